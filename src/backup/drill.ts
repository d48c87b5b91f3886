/**
 * The restore drill (issue 10): a backup counts once it has been restored. After every
 * backup the agent checks the stored files' checksums, decrypts and unpacks the chain
 * (the full backup, then each incremental on it) into a scratch folder, prepares it,
 * starts a scratch mariadbd on it (socket only, skip-networking, its own datadir) and
 * counts and checksums every table of the app's schema, to compare with the source's
 * figures at the backup's GTID. The scratch server is ended by its PID, and the folder
 * removed. `restoreChain` is the part `tandem restore` reuses: it leaves a prepared
 * datadir.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import mysql, { type Connection } from 'mysql2/promise';
import { extractCommand, prepareCommand } from '../sentinel/reseed-plan.ts';
import { run, start } from '../sentinel/reseed.ts';
import { decryptStream } from './crypt.ts';
import { type BackupManifest, backupFile, type TableFigures } from './manifest.ts';
import { checkStored } from './store.ts';
import { tableFigures } from './tables.ts';

const MARIADBD = '/usr/sbin/mariadbd';
const ZSTD = '/usr/bin/zstd';

/**
 * `zstd` compressing stdin to stdout at level 1: on the 2-core machine a backup is CPU-bound
 * (BENCHMARKS.md, backups), and level 1 needs about 40% of level 3's CPU for a stored file
 * as small on the bench's table (887 MiB against 889 MiB of a 1277 MiB stream). Same
 * format either way.
 */
export const compressCommand = (): string[] => [ZSTD, '-q', '-c', '-1'];
export const decompressCommand = (): string[] => [ZSTD, '-q', '-d', '-c'];

/**
 * The scratch server of a drill or of `restore --into`: no option file, no network
 * (socket only), no grant tables (nobody else can reach the socket: its folder is 0700),
 * no binlog, no replication; a small buffer pool. Runs as root, like the stack's own.
 */
export function scratchServerCommand(datadir: string, runDir: string, opts: { binlog?: boolean } = {}): string[] {
  return [
    MARIADBD,
    '--no-defaults',
    `--datadir=${datadir}`,
    `--socket=${path.join(runDir, 'mysqld.sock')}`,
    `--pid-file=${path.join(runDir, 'mysqld.pid')}`,
    `--log-error=${path.join(runDir, 'error.log')}`,
    '--skip-networking',
    '--skip-grant-tables',
    '--skip-slave-start',
    '--user=root',
    '--innodb-buffer-pool-size=64M',
    // A restore's datadir leaves with the binlog state it reached: the index names the
    // files relative to the datadir, so the folder can move to a database host.
    ...(opts.binlog ? ['--log-bin=binlog', '--server-id=1'] : []),
  ];
}

/**
 * Checks each file's checksum, then decrypts, decompresses and unpacks it into
 * `<work>/<i>`, and prepares the full backup with each incremental applied in turn.
 * Returns the prepared datadir (`<work>/0`). Throws naming the step that failed.
 */
export async function restoreChain(
  dir: string,
  chain: readonly BackupManifest[],
  key: Buffer,
  work: string,
  signal: AbortSignal,
): Promise<string> {
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true, mode: 0o700 });
  const dirs: string[] = [];
  for (const [i, m] of chain.entries()) {
    const problem = await checkStored(dir, m);
    if (problem) throw new Error(`backup ${m.id}: ${problem}`);
    const target = path.join(work, String(i));
    fs.mkdirSync(target, { mode: 0o700 });
    await unpack(backupFile(dir, m.id), key, target, signal).catch((err: Error) => {
      throw new Error(`backup ${m.id}: unpacking: ${err.message}`);
    });
    dirs.push(target);
  }
  const [full, ...incrementals] = dirs;
  await run(prepareCommand(full!), signal, 'mariadb-backup --prepare');
  for (const inc of incrementals) {
    await run([...prepareCommand(full!), `--incremental-dir=${inc}`], signal, 'mariadb-backup --prepare (incremental)');
  }
  return full!;
}

/** The stored file → decrypt → zstd -d → mbstream -x into `target`. */
async function unpack(file: string, key: Buffer, target: string, signal: AbortSignal): Promise<void> {
  const zstd = start(decompressCommand(), signal, 'pipe');
  const extract = start(extractCommand(target), signal, 'pipe');
  extract.child.stdout!.resume();
  await Promise.all([
    pipeline(fs.createReadStream(file), decryptStream(key), zstd.child.stdin!),
    pipeline(zstd.child.stdout!, extract.child.stdin!),
    zstd.exited,
    extract.exited,
  ]).catch((err: unknown) => {
    zstd.child.kill('SIGKILL');
    extract.child.kill('SIGKILL');
    throw err;
  });
}

/** The scratch servers running now: the agent ends them when it is stopped (its supervisor kills only the agent). */
const running = new Set<() => Promise<void>>();

export async function stopScratchServers(): Promise<void> {
  await Promise.all([...running].map((stop) => stop()));
}

/** A scratch mariadbd on a prepared datadir, until `stop()` ends it by its PID. */
export async function startScratchServer(
  datadir: string,
  runDir: string,
  timeoutMs = 60_000,
  opts: { binlog?: boolean; detached?: boolean } = {},
): Promise<{ conn: Connection; pid: number; runDir: string; stop: () => Promise<void> }> {
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const [bin, ...args] = scratchServerCommand(datadir, runDir, opts);
  // Detached (`restore --into`): it outlives tandem, for a person to read rows from.
  const child: ChildProcess = spawn(bin!, args, { stdio: 'ignore', detached: opts.detached === true });
  if (opts.detached) child.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(stop));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
  };
  running.add(stop);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = fs.readFileSync(path.join(runDir, 'error.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
      throw new Error(`the scratch mariadbd exited (${child.exitCode ?? child.signalCode}): ${log}`);
    }
    try {
      const conn = await mysql.createConnection({ socketPath: path.join(runDir, 'mysqld.sock'), user: 'root' });
      return { conn, pid: child.pid!, runDir, stop };
    } catch {
      if (Date.now() > deadline) {
        await stop();
        fs.rmSync(runDir, { recursive: true, force: true });
        throw new Error(`the scratch mariadbd did not answer within ${timeoutMs / 1000} s`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Restores `chain` into `work`, starts a scratch server on it and counts the schema's tables. */
export async function drillTables(
  dir: string,
  chain: readonly BackupManifest[],
  key: Buffer,
  work: string,
  schema: string,
  signal: AbortSignal,
): Promise<Record<string, TableFigures>> {
  try {
    const datadir = await restoreChain(dir, chain, key, path.join(work, 'data'), signal);
    // The socket's path must stay under 107 bytes: the run folder is a short one in /tmp.
    const server = await startScratchServer(datadir, fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-drill-')));
    try {
      return await tableFigures(server.conn, schema);
    } finally {
      server.conn.destroy();
      await server.stop();
      fs.rmSync(server.runDir, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
