/**
 * The binlog archive (issue 10), on a loopback stack with failover (so that `tandem
 * switchover` exists) and the archive on lb-1: every acknowledged write reaches the
 * archive within 1 s; the archiver killed by PID comes back under its supervisor and
 * resumes without a hole; after a switchover it follows the new primary, still without
 * one; a primary's mariadbd killed under writes leaves a measured number of acknowledged
 * writes outside what the archive got from it; binlogs purged while the archiver was away
 * make a hole it reports once. The archive is decoded with mariadb-binlog
 * itself (closed files decrypted first), not only with tandem's own reader.
 *
 * The stack also has failover and a backup host together: a backup from the replica,
 * whose SQL thread its source pauses, leaves it the sync replica, and the primary killed
 * during that pause promotes it with every acknowledged write; the backup then fails.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import type { ArchiveIndex } from '../../src/backup/archive-index.ts';
import type { ArchiverState } from '../../src/backup/archiver-state.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import { type BinlogScan, EMPTY_SCAN, scanBinlog } from '../../src/backup/binlog-scan.ts';
import { backupKeyFrom, decryptStream } from '../../src/backup/crypt.ts';
import type { StackConfig } from '../../src/config/types.ts';
import { trackedLastGtid } from '../../src/db/gtid.ts';
import { servicePaths } from '../../src/config/paths.ts';
import { readSupervisor } from '../../src/hosts/supervise.ts';
import { sleep, TestStack } from '../support/stack.ts';

const NAME = 'archive';
const SUBNET = '127.97.0';
const CONFIG: StackConfig = {
  name: NAME,
  hosting: 'loopback',
  network: { subnet: `${SUBNET}.0/24` },
  hosts: [
    { name: 'lb-1', roles: ['lb'] },
    { name: 'server-1', roles: ['web', 'app', 'db'] },
    { name: 'server-2', roles: ['web', 'app', 'db'] },
  ],
  database: { primary: 'server-2', failover: true },
  backup: { host: 'lb-1' },
};
const stack = new TestStack(NAME, CONFIG);
const STATE = path.join(stack.dir, '.tandem');
const ARCHIVE = path.join(STATE, 'hosts', 'lb-1', 'binlogs');
const ARCHIVER = path.join(STATE, 'hosts', 'lb-1', 'binlog-archiver');
const ADDRESS: Record<string, string> = { 'server-1': `${SUBNET}.12`, 'server-2': `${SUBNET}.13` };

interface Ack {
  readonly gtid: string;
  readonly at: number;
}

const secrets = () => JSON.parse(fs.readFileSync(path.join(STATE, 'secrets.json'), 'utf8')) as Record<string, string>;
const archiverState = () => JSON.parse(fs.readFileSync(path.join(ARCHIVER, 'state.json'), 'utf8')) as ArchiverState;
const dbSocket = (host: string) => path.join(STATE, 'hosts', host, 'mariadb', 'mariadb.sock');

/** The first process under `pid` (children, theirs...) whose command name is `name`; 0 when none. */
function descendantNamed(pid: number, name: string): number {
  const parents = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {}
  }
  const queue = [...(parents.get(pid) ?? [])];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    try {
      if (fs.readFileSync(`/proc/${next}/comm`, 'utf8').trim() === name) return next;
    } catch {}
    queue.push(...(parents.get(next) ?? []));
  }
  return 0;
}

const archiveIndex = () => JSON.parse(fs.readFileSync(path.join(ARCHIVE, 'index.json'), 'utf8')) as ArchiveIndex;

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await Promise.resolve(check()).catch(() => false)) return Date.now() - start;
    await sleep(50);
  }
  let state = '';
  try {
    state = JSON.stringify(archiverState());
  } catch {}
  throw new Error(`${what}: not within ${timeoutMs} ms (archiver state: ${state || 'none'})`);
}

/** Watches the archive's plain files every 20 ms and records when each GTID first appears. */
class ArchiveWatcher {
  readonly seen = new Map<string, number>();
  /** The hosts whose files hold each GTID. */
  readonly seenOn = new Map<string, Set<string>>();
  private readonly scans = new Map<string, BinlogScan>();
  private timer: NodeJS.Timeout | undefined;

  start(): void {
    this.timer = setInterval(() => this.poll(), 20);
  }

  stop(): void {
    clearInterval(this.timer);
    this.poll();
  }

  private poll(): void {
    const now = Date.now();
    for (const host of ['server-1', 'server-2']) {
      let names: string[] = [];
      try {
        names = fs.readdirSync(path.join(ARCHIVE, host)).filter((n) => /\.\d+$/.test(n));
      } catch {}
      for (const name of names) {
        const key = `${host}/${name}`;
        try {
          const buf = fs.readFileSync(path.join(ARCHIVE, host, name));
          const prev = this.scans.get(key) ?? EMPTY_SCAN;
          // The file is fetched again whole after a restart: start over when it shrank.
          const from = buf.length < prev.offset ? EMPTY_SCAN : prev;
          const scan = scanBinlog(buf.subarray(from.offset), from);
          this.scans.set(key, scan);
          for (const g of scan.gtids) {
            if (!this.seen.has(g)) this.seen.set(g, now);
            this.seenOn.set(g, (this.seenOn.get(g) ?? new Set()).add(host));
          }
        } catch {}
      }
    }
  }
}

/** The app's user on `host`'s database, over TCP as the app reaches it. */
const appConnection = (host: string) =>
  mysql.createConnection({
    host: ADDRESS[host],
    port: 3306,
    user: 'tandem_app',
    password: secrets().dbAppPassword,
    database: 'foobar',
  });

/** Inserts `count` rows one by one on `host`, recording each acknowledged write's GTID and time. */
async function writeLoop(
  host: string,
  count: number,
  acks: Ack[],
  opts: { stopOnError?: boolean } = {},
): Promise<void> {
  const conn = await appConnection(host);
  conn.on('error', () => {});
  try {
    const deadline = Date.now() + 20_000;
    for (let i = 0; i < count && Date.now() < deadline; i++) {
      try {
        const [header] = await conn.query('INSERT INTO archive_probe (v) VALUES (?)', [i]);
        const gtid = trackedLastGtid(header);
        if (gtid) acks.push({ gtid, at: Date.now() });
      } catch (err) {
        if (opts.stopOnError) return;
        throw err;
      }
      await sleep(5);
    }
  } finally {
    conn.destroy();
  }
}

/** Every GTID in the archive, decoded by mariadb-binlog itself (closed files decrypted first). */
async function decodedGtids(): Promise<Set<string>> {
  const out = new Set<string>();
  const tmp = fs.mkdtempSync(path.join(stack.dir, 'decoded-'));
  const key = backupKeyFrom(secrets().backupKey!);
  for (const f of archiveIndex().files) {
    let file = path.join(ARCHIVE, f.file);
    if (f.encrypted) {
      file = path.join(tmp, `${f.host}-${f.name}`);
      await pipeline(fs.createReadStream(path.join(ARCHIVE, f.file)), decryptStream(key), fs.createWriteStream(file));
    }
    const text = execFileSync('mariadb-binlog', [file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    for (const m of text.matchAll(/GTID (\d+-\d+-\d+)/g)) out.add(m[1]!);
  }
  return out;
}

describe('binlog archive (loopback, failover on, archive on lb-1)', { timeout: 600_000 }, () => {
  const acks: Ack[] = [];
  const watcher = new ArchiveWatcher();

  before(async () => {
    await stack.up();
    const conn = await appConnection('server-2');
    await conn.query('CREATE TABLE IF NOT EXISTS archive_probe (id INT AUTO_INCREMENT PRIMARY KEY, v INT)');
    await conn.end();
    await waitUntil('the archiver follows server-2', () => archiverState().following === 'server-2', 10_000);
    watcher.start();
  });
  after(async () => {
    watcher.stop();
    await stack.cleanup();
  });

  it('every acknowledged write is in the archive within 1 s of its acknowledgement', async () => {
    const mine: Ack[] = [];
    await writeLoop('server-2', 300, mine);
    acks.push(...mine);
    await sleep(1000);
    assert.ok(mine.length >= 250, `acknowledged writes: ${mine.length}`);
    const delays = mine.map((a) => (watcher.seen.get(a.gtid) ?? Infinity) - a.at);
    const worst = Math.max(...delays);
    const sorted = [...delays].sort((a, b) => a - b);
    process.stdout.write(
      `# archive delay over ${mine.length} writes: median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${worst} ms\n`,
    );
    assert.ok(worst <= 1000, `the slowest write reached the archive after ${worst} ms`);
    const s = await stack.status();
    assert.equal(s.archive?.state?.following, 'server-2');
    assert.equal(s.archive?.state?.holes, 0);
    const text = await stack.run('status');
    assert.match(
      text.stdout,
      /binlog archive on lb-1: following server-2; last archived 0-2-\d+; behind the primary \d+ transaction/,
    );
  });

  /** Kills the archiver by PID; returns how long until its successor streams again. */
  async function killArchiver(): Promise<number> {
    const paths = servicePaths({ dir: ARCHIVER, kind: 'binlog-archiver' });
    const before = readSupervisor(paths)!.pid!;
    assert.ok(before > 0);
    process.kill(before, 'SIGKILL');
    return waitUntil(
      'a new archiver streams again',
      () => {
        const pid = readSupervisor(paths)?.pid;
        const st = archiverState();
        return pid !== undefined && pid !== null && pid !== before && st.streaming && Date.now() - st.updatedAt < 1000;
      },
      15_000,
    );
  }

  /** The archiver's seal period, as its supervisor's next start reads it. */
  function setSealEvery(seconds: number): void {
    const file = path.join(ARCHIVER, 'archiver.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), sealEveryS: seconds }));
  }

  it('the archiver killed by PID comes back under its supervisor and resumes without a hole', async () => {
    // Sealing every 2 s for this part: the live file is cut, encrypted and continued.
    setSealEvery(2);
    const mine: Ack[] = [];
    const writes = writeLoop('server-2', 300, mine);
    const back = await killArchiver();
    await writes;
    acks.push(...mine);
    process.stdout.write(`# archiver back and streaming ${back} ms after its kill\n`);
    await waitUntil(
      'a segment sealed',
      () => archiveIndex().files.some((f) => f.startPos > 4 && f.host === 'server-2'),
      6000,
    );
    await waitUntil('the archive catches up', () => archiverState().behindTransactions === 0, 2000);
    const index = archiveIndex();
    const sealed = index.files.filter((f) => f.host === 'server-2' && f.encrypted);
    assert.ok(sealed.length > 0, JSON.stringify(index.files));
    for (const f of sealed) assert.ok(!fs.existsSync(path.join(ARCHIVE, f.host, f.name)), `${f.file}: plaintext left`);
    assert.equal(archiverState().holes, 0);
    assert.deepEqual(index.holes, []);
    // Back to the default period, through one more restart.
    setSealEvery(60);
    await killArchiver();
  });

  it('after a switchover it follows the new primary from the file that continues the archive, with no hole', async () => {
    const r = await stack.run('switchover', '--to', 'server-1');
    assert.equal(r.code, 0, r.stderr);
    await waitUntil('the archiver follows server-1', () => archiverState().following === 'server-1', 10_000);
    const mine: Ack[] = [];
    await writeLoop('server-1', 200, mine);
    acks.push(...mine);
    // The primary's own writes (the sentinels') may land between a probe and a scan: caught up within 1 s.
    await waitUntil('the archive catches up with the primary', () => archiverState().behindTransactions === 0, 1000);
    assert.equal(archiverState().holes, 0);
    const index = archiveIndex();
    assert.deepEqual(index.holes, []);
    assert.ok(index.files.some((f) => f.host === 'server-1') && index.files.some((f) => f.host === 'server-2'));
    // Closed files are encrypted at rest; the live one is plain.
    const closed = index.files.filter((f) => f.encrypted);
    assert.ok(closed.length > 0, JSON.stringify(index.files));
    for (const f of closed) assert.ok(!fs.existsSync(path.join(ARCHIVE, f.host, f.name)), `${f.file}: plaintext left`);
    // mariadb-binlog itself reads every acknowledged write's GTID in the archive.
    const decoded = await decodedGtids();
    const missing = acks.filter((a) => !decoded.has(a.gtid));
    assert.ok(acks.length > 0);
    assert.deepEqual(missing, []);
  });

  it('recovery point: the primary killed under writes; acknowledged writes missing from what the archive got from it', async () => {
    const primary = archiverState().following!;
    const mine: Ack[] = [];
    const writes = writeLoop(primary, 600, mine, { stopOnError: true });
    await sleep(2000);
    const pid = Number(
      fs.readFileSync(path.join(STATE, 'hosts', primary, 'mariadb', 'data', 'mariadbd.pid'), 'utf8').trim(),
    );
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    await writes;
    // What the archive got from the killed primary: its folder, before any later write.
    await sleep(300);
    const before = mine.filter((a) => a.at <= killedAt);
    const lost = before.filter((a) => !watcher.seenOn.get(a.gtid)?.has(primary));
    process.stdout.write(
      `# recovery point: ${before.length} writes acknowledged before the kill, ${lost.length} not in the archive\n`,
    );
    // 42 and 59 were measured: the loop waits 5 ms between semi-sync commits.
    assert.ok(before.length >= 20, `acknowledged before the kill: ${before.length}`);
    assert.equal(lost.length, 0, JSON.stringify(lost.slice(0, 5)));
  });

  it('binlogs purged on the primary while the archiver was away: the hole is detected and reported', async () => {
    const killed = archiverState().following!;
    await waitUntil(
      'the archiver follows the new primary',
      () => {
        const st = archiverState();
        return st.streaming && st.following !== null && st.following !== killed;
      },
      15_000,
    );
    const primary = archiverState().following!;
    const paths = servicePaths({ dir: ARCHIVER, kind: 'binlog-archiver' });
    const archiver = readSupervisor(paths)!.pid!;
    const stream = Number(fs.readFileSync(path.join(ARCHIVER, 'stream.pid'), 'utf8'));
    // The archiver paused (its supervisor sees it alive) and its stream gone: nothing reads the binlog.
    process.kill(archiver, 'SIGSTOP');
    process.kill(stream, 'SIGKILL');
    const mine: Ack[] = [];
    await writeLoop(primary, 20, mine);
    assert.ok(mine.length > 0);
    const cnf = path.join(STATE, 'hosts', primary, 'mariadb', 'my.cnf');
    const sql = (statement: string) =>
      execFileSync('mariadb', [`--defaults-file=${cnf}`, '-N', '-e', statement], { encoding: 'utf8' });
    sql('FLUSH BINARY LOGS');
    // The replica's dump thread moves on to the new file: a file in use is not purged.
    await sleep(500);
    const newest = sql('SHOW BINARY LOGS').trim().split('\n').at(-1)!.split('\t')[0]!;
    sql(`PURGE BINARY LOGS TO '${newest}'`);
    process.kill(archiver, 'SIGKILL');
    await waitUntil('the hole is recorded', () => archiverState().holes > 0 && archiverState().streaming, 15_000);
    // One gap, reported once.
    await sleep(500);
    assert.equal(archiverState().holes, 1);
    const hole = archiveIndex().holes[0]!;
    assert.equal(hole.host, primary);
    assert.equal(hole.name, newest);
    // The writes in between are the ones the archive lacks.
    assert.ok(mine.every((a) => !watcher.seenOn.get(a.gtid)?.has(primary)));
    const text = await stack.run('status');
    assert.match(text.stdout, /1 HOLE\(S\) in the GTID sequence/);
  });

  it("a backup pauses the replica's SQL thread: it stays the sync replica, and the primary killed meanwhile promotes it with every acknowledged write; the backup fails cleanly", async () => {
    // GIVEN a primary with its sync replica (the host killed above rejoined, perhaps reseeded).
    let primary = '';
    let replica = '';
    await waitUntil(
      'a primary with a sync replica, semi-sync live',
      async () => {
        const s = await stack.status();
        const f = s.db.failover;
        if (!f?.leader || !f.eligible) return false;
        [primary, replica] = [f.leader, f.eligible];
        return s.db.instances.find((i) => i.host === primary)?.semiSyncLive === true;
      },
      90_000,
    );
    const sql = async <T extends mysql.RowDataPacket[]>(host: string, statement: string) => {
      const conn = await mysql.createConnection({ socketPath: dbSocket(host), user: 'root' });
      try {
        return (await conn.query<T>(statement))[0];
      } finally {
        conn.destroy();
      }
    };
    const semiStatus = async () =>
      new Map(
        (await sql(primary, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_%'")).map((r) => [
          String(r.Variable_name),
          String(r.Value),
        ]),
      );
    const sourceDir = path.join(STATE, 'hosts', replica, 'backup-source');
    const marker = path.join(sourceDir, 'sql-thread-paused');
    const primaryLog = path.join(STATE, 'hosts', primary, 'sentinel', 'output.log');
    const dropsBefore = (fs.readFileSync(primaryLog, 'utf8').match(/"sync-dropped"/g) ?? []).length;

    // WHEN a backup runs from the replica, held in its copy (its mariadb-backup stopped:
    // a large database's tens of seconds), with its SQL thread paused.
    const running = stack.run('backup', '--full', '--json');
    let tool = 0;
    try {
      const source = readSupervisor(servicePaths({ dir: sourceDir, kind: 'backup-source' }))!.pid!;
      await waitUntil('mariadb-backup runs', () => (tool = descendantNamed(source, 'mariadb-backup')) > 0, 15_000);
      process.kill(tool, 'SIGSTOP');
      await waitUntil('the source paused the SQL thread', () => fs.existsSync(marker), 5000);
      await waitUntil(
        'Slave_SQL_Running: No',
        async () => (await sql(replica, 'SHOW SLAVE STATUS'))[0]?.Slave_SQL_Running === 'No',
        5000,
      );
      const yesBefore = Number((await semiStatus()).get('Rpl_semi_sync_master_yes_tx'));
      // Writes acknowledged during the pause (each by the replica's IO thread).
      const conn = await appConnection(primary);
      const acked: number[] = [];
      try {
        for (let v = 900_000; v < 900_040; v++) {
          await conn.query('INSERT INTO archive_probe (v) VALUES (?)', [v]);
          acked.push(v);
          await sleep(10);
        }
      } finally {
        conn.destroy();
      }
      // THEN the primary still waits for the replica's acknowledgements, and it is still eligible.
      const semi = await semiStatus();
      assert.equal(semi.get('Rpl_semi_sync_master_status'), 'ON');
      assert.equal(semi.get('Rpl_semi_sync_master_clients'), '1');
      assert.ok(
        Number(semi.get('Rpl_semi_sync_master_yes_tx')) - yesBefore >= acked.length,
        `acknowledged by the replica: ${Number(semi.get('Rpl_semi_sync_master_yes_tx')) - yesBefore} of ${acked.length}`,
      );
      const during = await stack.status();
      assert.equal(during.db.failover?.eligible, replica);
      assert.equal((await sql(replica, 'SHOW SLAVE STATUS'))[0]?.Slave_SQL_Running, 'No', 'still paused');
      assert.equal(
        (fs.readFileSync(primaryLog, 'utf8').match(/"sync-dropped"/g) ?? []).length,
        dropsBefore,
        'the sync replica was never dropped',
      );

      // WHEN the primary's database dies during the pause.
      const pid = Number(
        fs.readFileSync(path.join(STATE, 'hosts', primary, 'mariadb', 'data', 'mariadbd.pid'), 'utf8').trim(),
      );
      process.kill(pid, 'SIGKILL');
      const promotedMs = await waitUntil(
        `${replica} is writable`,
        async () => Number((await sql(replica, 'SELECT @@read_only AS ro'))[0]?.ro) === 0,
        10_000,
      );
      process.stdout.write(`# promoted during a backup's pause: writable ${promotedMs} ms after the kill\n`);
      // THEN it is promoted within the failover tests' 1 s, holding every acknowledged write.
      assert.ok(promotedMs <= 1000, `writable ${promotedMs} ms after the kill`);
      const rows = await sql(replica, 'SELECT v FROM foobar.archive_probe WHERE v >= 900000 ORDER BY v');
      assert.ok(acked.length > 0);
      assert.deepEqual(
        rows.map((r) => Number(r.v)),
        acked,
      );
    } finally {
      // Never left stopped, whatever failed above (the source kills it when it abandons the backup).
      if (tool > 0) {
        try {
          process.kill(tool, 'SIGCONT');
        } catch {}
      }
    }

    // THEN the backup ends failed, and nothing re-attached the new primary afterwards.
    const r = await running;
    let m: BackupManifest;
    try {
      m = JSON.parse(r.stdout) as BackupManifest;
    } catch {
      throw new Error(`tandem backup printed no manifest (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    assert.equal(r.code, 1, r.stdout);
    assert.equal(m.source.host, replica);
    assert.equal(m.verification, 'failed');
    assert.match(m.failure ?? '', /the replica is being promoted/);
    assert.equal(fs.existsSync(marker), false, 'the pause marker is gone');
    await waitUntil(
      'replication reset on the new primary',
      async () => (await sql(replica, 'SHOW SLAVE STATUS')).length === 0,
      10_000,
    );
    await sleep(1000);
    assert.deepEqual(await sql(replica, 'SHOW SLAVE STATUS'), [], 'no replication on the new primary');
    assert.equal(Number((await sql(replica, 'SELECT @@read_only AS ro'))[0]?.ro), 0, 'writable');
    assert.match(
      fs.readFileSync(path.join(sourceDir, 'output.log'), 'utf8'),
      new RegExp(`${m.id}: the SQL thread was left to the promotion that took the pause over`),
    );
  });
});
