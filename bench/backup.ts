/**
 * Backups and the binlog archive (issue 10), part `backup` of `npm run bench` (not in
 * the default parts: about 6 minutes).
 *
 * throughput (loopback 127.99.0.0/24, backups on lb-1): the bench grows a table of at
 * least BENCH_BACKUP_GIB GiB of payload with SQL on the primary (half random bytes, half
 * hex digests: compressible about 1.3×), waits until the replica has it, then in
 * BENCH_BACKUP_ROUNDS rounds, alternating: a plain copy (`cp -a`) of the replica's data
 * folder to a scratch folder on the same disk; `tandem backup --full` (through the CLI;
 * its time is the manifest's startedAt → endedAt, which ends before the drill); the
 * restore of that backup with drill.ts `restoreChain` (checksum, decrypt, zstd -d,
 * mbstream -x, prepare) into a scratch folder. Each rate is the bytes that operation
 * moved over its wall time: the datadir's for the copy, mariadb-backup's stream for the
 * backup, the prepared folder's for the restore. The drill's time is the manifest's.
 *
 * recovery point (netns 10.99.0.0/24, failover on, archive on lb-2): BENCH_BACKUP_KILLS
 * times, single-row INSERTs on the primary (each acknowledged write's GTID recorded) and,
 * 2 s in, `tandem chaos kill-host db:primary-host`; then the acknowledged writes missing
 * from what the archive got from the killed primary (its folder in the archive, closed
 * files decrypted), and how much time of acknowledged writes that is (kill − the oldest
 * missing write's acknowledgement); after the archiver follows the new primary, those
 * missing from the whole archive.
 *
 *   BENCH_BACKUP=throughput,rpo  BENCH_BACKUP_ROUNDS=3  BENCH_BACKUP_GIB=1  BENCH_BACKUP_KILLS=3
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import mysql from 'mysql2/promise';
import type { ArchiverState } from '../src/backup/archiver-state.ts';
import { scanBinlog } from '../src/backup/binlog-scan.ts';
import { backupKeyFrom, decryptStream } from '../src/backup/crypt.ts';
import { restoreChain } from '../src/backup/drill.ts';
import type { BackupManifest } from '../src/backup/manifest.ts';
import type { HostConfig, StackConfig } from '../src/config/types.ts';
import { trackedLastGtid } from '../src/db/gtid.ts';
import { type Goal, unhealthy } from './failover.ts';
import { median } from './measure.ts';
import { exec } from '../test/support/exec.ts';
import { cli, sleep, TestStack } from '../test/support/stack.ts';

const KINDS = (process.env.BENCH_BACKUP ?? 'throughput,rpo').split(',');
const ROUNDS = Number(process.env.BENCH_BACKUP_ROUNDS ?? 3);
const GIB = Number(process.env.BENCH_BACKUP_GIB ?? 1);
const KILLS = Number(process.env.BENCH_BACKUP_KILLS ?? 3);
const MIB = 1024 * 1024;
/** Payload bytes per generated row: 512 random bytes and four SHA-512 hex digests. */
const ROW_PAYLOAD = 1024;
/** One INSERT … SELECT adds at most this many rows (128 MiB of row events in one transaction). */
const ROWS_PER_STATEMENT = 131_072;

const mbps = (bytes: number, ms: number) => bytes / MIB / (ms / 1000);
const pct = (share: number) => `${(share * 100).toFixed(0)}%`;

async function onSocket<T>(socketPath: string, work: (c: mysql.Connection) => Promise<T>): Promise<T> {
  // Root over the socket (unix_socket auth): no password read.
  const conn = await mysql.createConnection({ socketPath, user: 'root', connectTimeout: 5000 });
  conn.on('error', () => {});
  try {
    return await work(conn);
  } finally {
    conn.destroy();
  }
}

async function scalar(socketPath: string, sql: string): Promise<string> {
  return onSocket(socketPath, async (c) => {
    const [rows] = await c.query<mysql.RowDataPacket[]>(sql);
    return String(Object.values(rows[0]!)[0]);
  });
}

/** Bytes of every file under `dir` (apparent sizes, as `cp` reads them). */
function folderBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

/** The machine's CPU time so far (all cores, in clock ticks): busy and total, from /proc/stat. */
function machineCpu(): { busy: number; total: number } {
  const ticks = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  // idle and iowait
  return { busy: total - ticks[3]! - ticks[4]!, total };
}

/** Samples the machine's CPU every 200 ms; `busyShare(from, to)` is the share of all cores busy in between. */
function cpuSampler() {
  const samples = [{ at: Date.now(), ...machineCpu() }];
  const timer = setInterval(() => samples.push({ at: Date.now(), ...machineCpu() }), 200);
  return {
    stop: () => clearInterval(timer),
    busyShare(from: number, to: number): number {
      const a = samples.find((x) => x.at >= from) ?? samples[0]!;
      const b = [...samples].reverse().find((x) => x.at <= to) ?? samples.at(-1)!;
      return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : Number.NaN;
    },
  };
}

// ---------------------------------------------------------------------------------------
// Throughput: backup and restore beside a plain copy

const PAYLOAD_SQL =
  'CONCAT(RANDOM_BYTES(512), SHA2(RAND(), 512), SHA2(RAND(), 512), SHA2(RAND(), 512), SHA2(RAND(), 512))';

/** Grows `foobar.bench_bulk` on the primary until its payload reaches `bytes`; rows and time. */
async function generate(socketPath: string, bytes: number): Promise<{ rows: number; ms: number }> {
  const target = Math.ceil(bytes / ROW_PAYLOAD);
  const t0 = performance.now();
  return onSocket(socketPath, async (c) => {
    await c.query(
      'CREATE TABLE foobar.bench_bulk (id BIGINT AUTO_INCREMENT PRIMARY KEY, payload VARBINARY(1024) NOT NULL) ENGINE=InnoDB',
    );
    await c.query(
      `INSERT INTO foobar.bench_bulk (payload) SELECT ${PAYLOAD_SQL} FROM (WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 512) SELECT n FROM s) AS s`,
    );
    let rows = 512;
    // Doubling, each statement bounded: at most target / 512 + 10 statements.
    for (let i = 0; rows < target && i < target / 512 + 10; i++) {
      const add = Math.min(rows, ROWS_PER_STATEMENT, target - rows);
      await c.query(`INSERT INTO foobar.bench_bulk (payload) SELECT ${PAYLOAD_SQL} FROM foobar.bench_bulk LIMIT ?`, [
        add,
      ]);
      rows += add;
    }
    return { rows, ms: performance.now() - t0 };
  });
}

/** Waits (bounded) until the replica applied everything the primary binlogged. */
async function replicated(primary: string, replica: string, timeoutMs: number): Promise<number> {
  const want = await scalar(primary, 'SELECT @@gtid_binlog_pos');
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if ((await scalar(replica, 'SELECT @@gtid_slave_pos')) === want) return Date.now() - t0;
    await sleep(500);
  }
  throw new Error(`the replica did not reach ${want} within ${timeoutMs / 1000} s`);
}

interface ThroughputRound {
  readonly copyBytes: number;
  readonly copyMs: number;
  readonly streamBytes: number;
  readonly storedBytes: number;
  readonly backupMs: number;
  readonly drillMs: number | null;
  readonly verification: string;
  readonly restoreBytes: number;
  readonly restoreMs: number;
  /** Share of the machine's CPU (both cores) busy during each. */
  readonly cpu: { readonly copy: number; readonly backup: number; readonly restore: number };
}

async function throughputPart(): Promise<void> {
  const hosts: HostConfig[] = [
    { name: 'lb-1', roles: ['lb'] },
    { name: 'server-1', roles: ['web', 'app', 'db'] },
    { name: 'server-2', roles: ['web', 'app', 'db'] },
  ];
  const config: StackConfig = {
    name: 'benchbk',
    hosting: 'loopback',
    network: { subnet: '127.99.0.0/24' },
    hosts,
    database: { primary: 'server-2' },
    backup: { host: 'lb-1' },
  };
  const stack = new TestStack('benchbk', config);
  const hostDir = (host: string) => path.join(stack.dir, '.tandem', 'hosts', host);
  const socket = (host: string) => path.join(hostDir(host), 'mariadb', 'mariadb.sock');
  const datadir = path.join(hostDir('server-1'), 'mariadb', 'data');
  const backups = path.join(hostDir('lb-1'), 'backups');
  // Scratch folders inside the stack's folder: the same disk, removed with it.
  const scratch = path.join(stack.dir, 'scratch');
  const cpu = cpuSampler();
  try {
    await stack.up();
    const gen = await generate(socket('server-2'), GIB * 1024 * MIB);
    const lagMs = await replicated(socket('server-2'), socket('server-1'), 600_000);
    const ibd = fs.statSync(path.join(datadir, 'foobar', 'bench_bulk.ibd')).size;
    console.log(
      `\n## backups (issue 10) — ${gen.rows} rows of ${ROW_PAYLOAD} payload bytes generated in ${(gen.ms / 1000).toFixed(0)} s with INSERT … SELECT on the primary; the replica had them ${(lagMs / 1000).toFixed(0)} s later; table file ${(ibd / MIB).toFixed(0)} MiB; the replica's data folder ${(folderBytes(datadir) / MIB).toFixed(0)} MiB (binlog and relay logs included)\n`,
    );
    const key = backupKeyFrom(
      (JSON.parse(fs.readFileSync(path.join(stack.dir, '.tandem', 'secrets.json'), 'utf8')) as { backupKey: string })
        .backupKey,
    );
    const rounds: ThroughputRound[] = [];
    console.log(
      '| round | plain copy MiB/s (MiB) | backup MiB/s (stream MiB → stored MiB) | drill s | restore MiB/s (MiB) | machine CPU busy: copy / backup / restore | verified |',
    );
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (let r = 1; r <= ROUNDS; r++) {
      fs.mkdirSync(scratch, { recursive: true });
      const copyBytes = folderBytes(datadir);
      let t = performance.now();
      const copyFrom = Date.now();
      // Asynchronous, so that the CPU sampler keeps running.
      const copied = await exec(['cp', '-a', datadir, path.join(scratch, 'copy')], 600_000);
      if (copied.code !== 0) throw new Error(`cp -a failed: ${copied.stderr}`);
      const copyMs = performance.now() - t;
      const copyCpu = cpu.busyShare(copyFrom, Date.now());
      fs.rmSync(path.join(scratch, 'copy'), { recursive: true, force: true });

      const b = await cli(['backup', '--full', '--json', '--config', stack.configFile], stack.dir, 1_800_000);
      let m: BackupManifest;
      try {
        m = JSON.parse(b.stdout) as BackupManifest;
      } catch {
        throw new Error(`tandem backup --full printed no JSON (exit ${b.code}):\n${b.stdout}\n${b.stderr}`);
      }
      const backupMs = Date.parse(m.endedAt) - Date.parse(m.startedAt);

      const work = path.join(scratch, 'restore');
      const abort = new AbortController();
      t = performance.now();
      const restoreFrom = Date.now();
      const restored = await restoreChain(backups, [m], key, work, abort.signal);
      const restoreMs = performance.now() - t;
      const restoreCpu = cpu.busyShare(restoreFrom, Date.now());
      const restoreBytes = folderBytes(restored);
      fs.rmSync(scratch, { recursive: true, force: true });

      const round: ThroughputRound = {
        copyBytes,
        copyMs,
        streamBytes: m.streamBytes,
        storedBytes: m.storedBytes,
        backupMs,
        drillMs: m.drill?.ms ?? null,
        verification: m.verification + (m.failure ? ` (${m.failure})` : ''),
        restoreBytes,
        restoreMs,
        cpu: {
          copy: copyCpu,
          backup: cpu.busyShare(Date.parse(m.startedAt), Date.parse(m.endedAt)),
          restore: restoreCpu,
        },
      };
      rounds.push(round);
      console.log(
        `| ${r} | ${mbps(copyBytes, copyMs).toFixed(0)} (${(copyBytes / MIB).toFixed(0)}) | ${mbps(m.streamBytes, backupMs).toFixed(0)} (${(m.streamBytes / MIB).toFixed(0)} → ${(m.storedBytes / MIB).toFixed(0)}) | ${round.drillMs === null ? '—' : (round.drillMs / 1000).toFixed(1)} | ${mbps(restoreBytes, restoreMs).toFixed(0)} (${(restoreBytes / MIB).toFixed(0)}) | ${pct(round.cpu.copy)} / ${pct(round.cpu.backup)} / ${pct(round.cpu.restore)} | ${round.verification} |`,
      );
    }
    const copy = median(rounds.map((x) => mbps(x.copyBytes, x.copyMs)));
    const backup = median(rounds.map((x) => mbps(x.streamBytes, x.backupMs)));
    const restore = median(rounds.map((x) => mbps(x.restoreBytes, x.restoreMs)));
    const drills = rounds.flatMap((x) => (x.drillMs === null ? [] : [x.drillMs]));
    console.log(
      `\nmedians over ${ROUNDS} rounds: plain copy ${copy.toFixed(0)} MiB/s; backup ${backup.toFixed(0)} MiB/s (${(backup / copy).toFixed(2)}× the plain copy); restore ${restore.toFixed(0)} MiB/s (${(restore / copy).toFixed(2)}× the plain copy); restore drill ${drills.length > 0 ? `${(median(drills) / 1000).toFixed(1)} s` : 'none ran'}; stored / stream ${median(rounds.map((x) => x.storedBytes / x.streamBytes)).toFixed(2)}; ${rounds.filter((x) => x.verification === 'verified').length} of ${ROUNDS} backups verified by their drill; machine CPU busy (both cores, every process) during the copy ${pct(median(rounds.map((x) => x.cpu.copy)))}, the backup ${pct(median(rounds.map((x) => x.cpu.backup)))}, the restore ${pct(median(rounds.map((x) => x.cpu.restore)))}`,
    );
  } finally {
    cpu.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
    await stack.cleanup();
  }
}

// ---------------------------------------------------------------------------------------
// Recovery point: the primary's host killed under writes

interface Ack {
  readonly gtid: string;
  readonly at: number;
}

/** Single-row INSERTs over the primary's socket until one fails or the bounds are reached. */
async function writeUntilError(socketPath: string, acks: Ack[], maxWrites: number, maxMs: number): Promise<void> {
  const conn = await mysql.createConnection({ socketPath, user: 'root', connectTimeout: 5000 });
  conn.on('error', () => {});
  try {
    const deadline = Date.now() + maxMs;
    for (let i = 0; i < maxWrites && Date.now() < deadline; i++) {
      const [header] = await conn.query('INSERT INTO foobar.rpo_probe (v) VALUES (?)', [i]);
      const gtid = trackedLastGtid(header);
      if (gtid) acks.push({ gtid, at: Date.now() });
    }
  } catch {
    // The primary died: the write in flight was not acknowledged.
  } finally {
    conn.destroy();
  }
}

/** Every GTID in the archive's folder of `host` (closed files decrypted first). */
async function archivedGtids(archive: string, host: string, key: Buffer): Promise<Set<string>> {
  const out = new Set<string>();
  const dir = path.join(archive, host);
  const names = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  for (const name of names) {
    let buf: Buffer;
    if (name.endsWith('.enc')) {
      const chunks: Buffer[] = [];
      await pipeline(fs.createReadStream(path.join(dir, name)), decryptStream(key), async (source) => {
        for await (const c of source) chunks.push(c as Buffer);
      });
      buf = Buffer.concat(chunks);
    } else if (/\.\d+$/.test(name)) buf = fs.readFileSync(path.join(dir, name));
    else continue;
    for (const g of scanBinlog(buf).gtids) out.add(g);
  }
  return out;
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < timeoutMs) {
    const v = await check().catch((err: Error) => ((last = err.message), undefined));
    if (v !== undefined) return v;
    await sleep(500);
  }
  throw new Error(`${what}: not within ${timeoutMs / 1000} s${last ? ` (${String(last)})` : ''}`);
}

interface KillRecord {
  readonly primary: string;
  readonly acknowledged: number;
  readonly missingFromKilled: number;
  readonly spanMs: number;
  readonly missingAfterFollow: number;
}

async function rpoPart(goal: Goal): Promise<void> {
  const config: StackConfig = {
    name: 'benchbkns',
    hosting: 'netns',
    network: { subnet: '10.99.0.0/24' },
    database: { failover: true },
    backup: { host: 'lb-2' },
  };
  const stack = new TestStack('benchbkns', config);
  const hostDir = (host: string) => path.join(stack.dir, '.tandem', 'hosts', host);
  const socket = (host: string) => path.join(hostDir(host), 'mariadb', 'mariadb.sock');
  const archive = path.join(hostDir('lb-2'), 'binlogs');
  const archiver = () =>
    JSON.parse(fs.readFileSync(path.join(hostDir('lb-2'), 'binlog-archiver', 'state.json'), 'utf8')) as ArchiverState;
  try {
    await stack.up();
    const key = backupKeyFrom(
      (JSON.parse(fs.readFileSync(path.join(stack.dir, '.tandem', 'secrets.json'), 'utf8')) as { backupKey: string })
        .backupKey,
    );
    const records: KillRecord[] = [];
    console.log(
      `\n### recovery point: the primary's host killed under single-row INSERTs (netns, failover on, archive on lb-2), ${KILLS} kills\n`,
    );
    console.log(
      '| kill | primary | writes acknowledged | missing from what the archive got from it | span ms (kill − oldest missing ack) | missing from the archive once it follows the new primary |',
    );
    console.log('| ---: | --- | ---: | ---: | ---: | ---: |');
    for (let k = 1; k <= KILLS; k++) {
      // A whole stack, and an archive streaming from its primary with nothing behind.
      const primary = await waitFor(
        'the stack whole and the archive caught up',
        async () => {
          const s = await stack.status();
          const a = archiver();
          const ok = !unhealthy(s) && a.following === s.db.primary && a.streaming && a.behindTransactions === 0;
          return ok ? s.db.primary : undefined;
        },
        120_000,
      );
      await onSocket(socket(primary), (c) =>
        c.query('CREATE TABLE IF NOT EXISTS foobar.rpo_probe (id INT AUTO_INCREMENT PRIMARY KEY, v INT)'),
      );
      const acks: Ack[] = [];
      const writes = writeUntilError(socket(primary), acks, 50_000, 15_000);
      await sleep(2000);
      const kill = await stack.run('chaos', 'kill-host', 'db:primary-host', '--json');
      if (kill.code !== 0) throw new Error(`chaos kill-host failed: ${kill.stdout}\n${kill.stderr}`);
      const killedAt = (JSON.parse(kill.stdout) as { at: number }).at;
      await writes;
      if (acks.length === 0) throw new Error(`kill ${k}: no write was acknowledged before the kill: nothing measured`);
      // The killed primary's stream is gone: its folder in the archive is what the archive got from it.
      await sleep(500);
      const fromKilled = await archivedGtids(archive, primary, key);
      const missing = acks.filter((a) => !fromKilled.has(a.gtid));
      const spanMs = missing.length > 0 ? Math.max(0, killedAt - Math.min(...missing.map((a) => a.at))) : 0;
      // The new primary logged the replicated writes too (log_slave_updates): once followed, the whole archive.
      const next = await waitFor(
        'the archiver follows the new primary, caught up',
        async () => {
          const a = archiver();
          return a.following && a.following !== primary && a.streaming && a.behindTransactions === 0
            ? a.following
            : undefined;
        },
        60_000,
      );
      const all = new Set([...fromKilled, ...(await archivedGtids(archive, next, key))]);
      const record: KillRecord = {
        primary,
        acknowledged: acks.length,
        missingFromKilled: missing.length,
        spanMs,
        missingAfterFollow: acks.filter((a) => !all.has(a.gtid)).length,
      };
      records.push(record);
      console.log(
        `| ${k} | ${primary} | ${record.acknowledged} | ${record.missingFromKilled} | ${spanMs} | ${record.missingAfterFollow} |`,
      );
      const healed = await stack.run('chaos', 'heal');
      if (healed.code !== 0) throw new Error(`heal failed: ${healed.stdout}\n${healed.stderr}`);
    }
    const spans = records.map((r) => r.spanMs);
    console.log(
      `\nrecovery point over ${KILLS} kills: median ${median(records.map((r) => r.missingFromKilled))} acknowledged writes missing from the killed primary's archive (max ${Math.max(...records.map((r) => r.missingFromKilled))}), spanning median ${median(spans)} ms (max ${Math.max(...spans)} ms); missing from the whole archive after it followed the new primary: ${records.map((r) => r.missingAfterFollow).join(', ')}`,
    );
    goal(
      "recovery point after kill-host of the primary: median time of acknowledged writes missing from the killed primary's archive",
      median(spans),
      ' ms',
      '≤',
      1000,
      0,
    );
  } finally {
    await stack.cleanup();
  }
}

/** The backup part: the kinds selected in BENCH_BACKUP. */
export async function backupBench(goal: Goal): Promise<void> {
  if (KINDS.includes('throughput')) await throughputPart();
  if (KINDS.includes('rpo')) {
    if (process.getuid?.() === 0) await rpoPart(goal);
    else console.log('\n### recovery point — skipped: network namespaces need root');
  }
}
