/**
 * Backups and their restore drill (issue 10), with the real MariaDB tools: rows written
 * on the primary → `tandem backup --full` is taken from the replica (its SQL thread
 * paused), stored compressed and encrypted (no plaintext, not world-readable), drilled
 * in a scratch mariadbd and listed verified with the GTID the replica had → more rows →
 * `--incremental` on it, verified by a drill of base + incremental that counts the new
 * rows → a flipped byte in the stored full backup fails `tandem backups --check`, and
 * no incremental is built on it any more.
 *
 * netns hosting, so the firewall is the real one: the backup source answers the backup
 * host alone, the agent answers tandem's root namespace and nobody on the internet (the
 * client namespace), and unsigned requests are refused. A stack without the monitor host
 * comes up in ~15 s here; the file's wall time was ~45 s.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import type { StackConfig } from '../../src/config/types.ts';
import { inNs } from '../support/netns.ts';
import { sleep, TestStack } from '../support/stack.ts';

const SUBNET = '10.96.0';
const NAME = 'bkp';
/** The default design less its monitor host (TestStack): lb-2, an LB host, keeps the backups (never a db host). */
const CONFIG: StackConfig = {
  name: NAME,
  hosting: 'netns',
  network: { subnet: `${SUBNET}.0/24` },
  backup: { host: 'lb-2' },
};
const AGENT = `http://${SUBNET}.12:9096`;
const SOURCE = `http://${SUBNET}.13:9097`;
const stack = new TestStack('backup', CONFIG);
const CANARY = 'plaintext-canary-7f3a';
const FIRST_ROWS = 2000;
const MORE_ROWS = 700;

const socketOf = (host: string) => path.join(stack.dir, '.tandem', 'hosts', host, 'mariadb', 'mariadb.sock');
const backupsDir = path.join(stack.dir, '.tandem', 'hosts', 'lb-2', 'backups');

async function onDb<T>(host: string, work: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await mysql.createConnection({ socketPath: socketOf(host), user: 'root', multipleStatements: true });
  try {
    return await work(conn);
  } finally {
    await conn.end();
  }
}

async function scalar(host: string, sql: string): Promise<string> {
  return onDb(host, async (c) => {
    const [rows] = await c.query<mysql.RowDataPacket[]>(sql);
    return String(Object.values(rows[0]!)[0]);
  });
}

async function insertRows(n: number): Promise<void> {
  await onDb('server-2', async (c) => {
    await c.query(
      'CREATE TABLE IF NOT EXISTS foobar.backup_drill (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64) NOT NULL)',
    );
    for (let i = 0; i < n; i += 500) {
      const values = Array.from({ length: Math.min(500, n - i) }, (_, j) => [`${CANARY}-${i + j}`]);
      await c.query('INSERT INTO foobar.backup_drill (v) VALUES ?', [values]);
    }
  });
}

/** Waits (≤ 10 s) until the replica applied everything the primary binlogged; its GTID then. */
async function replicated(): Promise<string> {
  const want = await scalar('server-2', 'SELECT @@gtid_binlog_pos');
  for (let i = 0; i < 100; i++) {
    if ((await scalar('server-1', 'SELECT @@gtid_slave_pos')) === want) return want;
    await sleep(100);
  }
  throw new Error(`the replica did not reach ${want} within 10 s`);
}

async function sqlThread(): Promise<string> {
  return onDb('server-1', async (c) => {
    const [rows] = await c.query<mysql.RowDataPacket[]>('SHOW SLAVE STATUS');
    return String(rows[0]?.Slave_SQL_Running);
  });
}

async function backup(...flags: string[]): Promise<{ code: number; m: BackupManifest; ms: number; stderr: string }> {
  const t = Date.now();
  const r = await stack.run('backup', ...flags, '--json');
  const ms = Date.now() - t;
  try {
    return { code: r.code, m: JSON.parse(r.stdout) as BackupManifest, ms, stderr: r.stderr };
  } catch {
    throw new Error(`tandem backup ${flags.join(' ')} printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

async function listed(...flags: string[]): Promise<BackupManifest[]> {
  const r = await stack.run('backups', ...flags, '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as BackupManifest[];
}

describe('backups and the restore drill (netns, real mariadb-backup)', () => {
  let full: BackupManifest;
  let incremental: BackupManifest;

  before(async () => {
    await stack.up();
  });
  after(async () => {
    await stack.cleanup();
  });

  it('the firewall: the source answers the backup host only; the agent tandem only, and only signed requests', async () => {
    const curl = async (ns: string, url: string) =>
      (
        await inNs(
          `tandem-${NAME}-${ns}`,
          ['curl', '-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', url],
          5000,
        )
      ).stdout;
    assert.equal(await curl('lb-2', `${SOURCE}/-/ready`), '200');
    assert.equal(await curl('lb-1', `${SOURCE}/-/ready`), '000', 'another host does not reach the source');
    assert.equal(await curl('client', `${AGENT}/-/ready`), '000', 'the internet does not reach the agent');
    assert.equal((await fetch(`${AGENT}/-/ready`)).status, 200, 'tandem reaches the agent');
    assert.equal((await fetch(`${AGENT}/backups`)).status, 403, 'an unsigned request is refused');
    assert.equal(await curl('lb-2', `${SOURCE}/state`), '403', 'an unsigned request is refused');
  });

  it('a full backup comes from the healthy replica, is stored encrypted, and its drill verifies it at the replica GTID', async () => {
    await insertRows(FIRST_ROWS);
    const gtid = await replicated();
    const { code, m, ms, stderr } = await backup('--full');
    assert.equal(code, 0, `${m.failure ?? ''}\n${stderr}`);
    full = m;
    assert.equal(m.kind, 'full');
    assert.deepEqual([m.source.host, m.source.role], ['server-1', 'replica']);
    assert.equal(m.gtid, gtid, 'the backup GTID is the position the replica had');
    assert.equal(m.verification, 'verified');
    assert.equal(m.drill?.compared, 'at-gtid');
    assert.equal(m.drill?.tables.backup_drill?.rows, FIRST_ROWS);
    assert.ok(Number(m.checkpoints.toLsn) > 0);
    assert.equal(await sqlThread(), 'Yes', "the replica's SQL thread runs again after the backup");
    // Stored: not world-readable, and not plaintext.
    const dirMode = fs.statSync(backupsDir).mode & 0o777;
    const file = path.join(backupsDir, m.id, 'backup.mbstream.zst.enc');
    assert.equal(dirMode & 0o077, 0, `backups dir mode ${dirMode.toString(8)}`);
    assert.equal(fs.statSync(file).mode & 0o077, 0);
    assert.equal(fs.statSync(path.join(backupsDir, m.id, 'manifest.json')).mode & 0o077, 0);
    const bytes = fs.readFileSync(file);
    assert.equal(bytes.length, m.storedBytes);
    assert.equal(bytes.includes(CANARY), false, 'the stored file holds no plaintext row');
    assert.equal(bytes.subarray(0, 8).toString(), 'TANDEMB1');
    const backupMs = Date.parse(m.endedAt) - Date.parse(m.startedAt);
    console.log(
      `full: ${m.streamBytes} B streamed, ${m.storedBytes} B stored, backup ${backupMs} ms, drill ${m.drill?.ms} ms, command ${ms} ms`,
    );
    // `status` shows it.
    const status = await stack.status();
    assert.equal(status.backup?.last?.id, m.id);
    assert.equal(status.backup?.last?.verification, 'verified');
  });

  it('tandem backups lists it verified with its GTID and size', async () => {
    const list = await listed();
    assert.deepEqual(
      list.map((b) => [b.id, b.verification, b.gtid, b.storedBytes]),
      [[full.id, 'verified', full.gtid, full.storedBytes]],
    );
  });

  it('an incremental on it is verified by a drill of base + incremental that counts the new rows', async () => {
    await insertRows(MORE_ROWS);
    const gtid = await replicated();
    const { code, m, stderr } = await backup('--incremental');
    assert.equal(code, 0, `${m.failure ?? ''}\n${stderr}`);
    incremental = m;
    assert.equal(m.kind, 'incremental');
    assert.equal(m.base, full.id);
    assert.deepEqual(m.chain, [full.id, m.id]);
    assert.equal(m.checkpoints.fromLsn, full.checkpoints.toLsn);
    assert.equal(m.gtid, gtid);
    assert.equal(m.verification, 'verified');
    assert.equal(m.drill?.tables.backup_drill?.rows, FIRST_ROWS + MORE_ROWS);
    console.log(
      `incremental: ${m.streamBytes} B streamed, ${m.storedBytes} B stored, backup ${Date.parse(m.endedAt) - Date.parse(m.startedAt)} ms, drill ${m.drill?.ms} ms`,
    );
  });

  it('a flipped byte in the stored full backup fails the check, and no incremental builds on it', async () => {
    const file = path.join(backupsDir, full.id, 'backup.mbstream.zst.enc');
    const fd = fs.openSync(file, 'r+');
    const at = Math.floor(full.storedBytes / 2);
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);

    const checked = await listed('--check');
    const f = checked.find((x) => x.id === full.id);
    assert.equal(f?.verification, 'failed');
    assert.match(f?.failure ?? '', /fails its checksum/);
    assert.equal(checked.find((x) => x.id === incremental.id)?.verification, 'verified');
    // The listing without --check now shows it failed too: the manifest records it.
    assert.equal((await listed()).find((x) => x.id === full.id)?.verification, 'failed');

    const r = await stack.run('backup', '--incremental');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no verified full backup/);
  });

  it("a source killed mid-backup: the backup fails, and the restarted source starts the replica's SQL thread again", async () => {
    const sourceDir = path.join(stack.dir, '.tandem', 'hosts', 'server-1', 'backup-source');
    const marker = path.join(sourceDir, 'sql-thread-paused');
    const running = stack.run('backup', '--full', '--json');
    // The marker exists exactly while the source holds the SQL thread stopped.
    for (let i = 0; i < 500 && !fs.existsSync(marker); i++) await sleep(10);
    assert.ok(fs.existsSync(marker), 'the source paused the SQL thread');
    assert.equal(await sqlThread(), 'No');
    const { pid } = JSON.parse(fs.readFileSync(path.join(sourceDir, 'supervisor.json'), 'utf8')) as { pid: number };
    process.kill(pid, 'SIGKILL');
    const r = await running;
    assert.equal(r.code, 1, r.stdout);
    let state = '';
    for (let i = 0; i < 100 && (state = await sqlThread()) !== 'Yes'; i++) await sleep(100);
    assert.equal(state, 'Yes', 'the SQL thread runs again within 10 s');
    assert.equal(fs.existsSync(marker), false);
  });

  it('with no healthy replica the backup loads the primary, says so, and its drill compares the table list', async () => {
    await onDb('server-1', (c) => c.query('STOP SLAVE'));
    try {
      const { code, m, stderr } = await backup('--full');
      assert.equal(code, 0, `${m.failure ?? ''}\n${stderr}`);
      assert.deepEqual([m.source.host, m.source.role], ['server-2', 'primary']);
      assert.match(m.source.why, /^no healthy replica \(server-1's replication is stopped\): loading the primary$/);
      assert.equal(m.drill?.compared, 'tables-only');
      assert.equal(m.verification, 'verified');
      const log = fs.readFileSync(
        path.join(stack.dir, '.tandem', 'hosts', 'lb-2', 'backup-agent', 'output.log'),
        'utf8',
      );
      assert.match(log, new RegExp(`${m.id}: no healthy replica .*: loading the primary \\(server-2\\)`));
    } finally {
      await onDb('server-1', (c) => c.query('START SLAVE'));
    }
  });
  it('restore --gtid in place (netns, no failover): both databases hold everything up to the GTID and nothing after, and replicate again', async () => {
    const rows = async (host: string, tag: string) =>
      Number(await scalar(host, `SELECT COUNT(*) FROM foobar.backup_drill WHERE v LIKE '${tag}-%'`));
    await onDb('server-2', async (c) => {
      for (let i = 0; i < 50; i++) await c.query('INSERT INTO foobar.backup_drill (v) VALUES (?)', [`kept-${i}`]);
    });
    const point = await scalar('server-2', 'SELECT @@gtid_binlog_pos');
    await onDb('server-2', async (c) => {
      for (let i = 0; i < 50; i++) await c.query('INSERT INTO foobar.backup_drill (v) VALUES (?)', [`after-${i}`]);
    });
    const archiver = path.join(stack.dir, '.tandem', 'hosts', 'lb-2', 'binlog-archiver', 'state.json');
    for (let i = 0; ; i++) {
      const st = JSON.parse(fs.readFileSync(archiver, 'utf8')) as { behindTransactions: number | null };
      if (st.behindTransactions === 0) break;
      if (i > 100) throw new Error(`the archive did not catch up: ${JSON.stringify(st)}`);
      await sleep(100);
    }
    const r = await stack.run('restore', '--gtid', point, '--yes');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /replayed after/);
    for (const host of ['server-2', 'server-1']) {
      assert.equal(await rows(host, 'kept'), 50, `${host}: the writes up to the GTID`);
      assert.equal(await rows(host, 'after'), 0, `${host}: nothing after it`);
    }
    // The restored binlog state is the point's (`up` then logs its idempotent user statements after it).
    assert.match(r.stdout, new RegExp(`restored to GTID ${point}:`));
    await onDb('server-2', (c) => c.query('INSERT INTO foobar.backup_drill (v) VALUES (?)', ['new-0']));
    await replicated();
    assert.equal(await rows('server-1', 'new'), 1, 'the replica replicates from the restored primary');
    assert.equal(await sqlThread(), 'Yes');
    assert.equal(await scalar('server-1', 'SELECT @@read_only'), '1', 'the replica stays read-only');
  });
});
