/**
 * Reseeding a diverged database from the primary, as between real hosts: the diverged
 * host's sentinel listens on its own address, asks in etcd for a backup; the primary's
 * sentinel runs `mariadb-backup --backup --stream=mbstream` and sends it over TCP. The
 * receiver unpacks (`mbstream -x`) and prepares it beside the live datadir, then swaps
 * the two under a frozen server and kills it: its supervisor starts it again, read-only
 * (every instance does), on the restored data. The old binlogs are kept aside for a
 * person. The sentinel then sets the binlog state of the backup's point, and its usual
 * rejoin (prefix check, replication, semi-sync eligibility) takes over.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { SentinelReseedConfig } from './config.ts';
import type { ReseedRequest } from './keys.ts';
import type { LocalDb } from './local-db.ts';
import {
  backupCommand,
  backupDefaults,
  BINLOG_INFO_FILES,
  extractCommand,
  isBinlogFile,
  keptAsideDir,
  parseBinlogInfo,
  prepareCommand,
  type ReseedRecord,
  reseededBinlogState,
} from './reseed-plan.ts';

type Log = (event: string, fields?: Record<string, unknown>) => void;

/** What the receiving side needs beyond its config: its database, etcd, and who gives the backup. */
export interface ReseedContext {
  readonly config: SentinelReseedConfig;
  readonly host: string;
  readonly address: string;
  readonly db: LocalDb;
  readonly pidFile: string;
  readonly donor: { readonly host: string; readonly address: string };
  /** The donor's `gtid_binlog_state` as it published it: the restored instance's state is cut from it. */
  readonly donorBinlogState: () => string;
  readonly reason: string;
  /** Publishes the request (leased to this sentinel) and removes it. */
  readonly request: (req: ReseedRequest) => Promise<void>;
  readonly withdraw: () => Promise<void>;
  readonly progress: (record: ReseedRecord) => void;
  readonly log: Log;
}

/** Runs one reseed to its end within the configured time; never throws: the record says how it went. */
export async function reseed(ctx: ReseedContext): Promise<ReseedRecord> {
  const id = randomBytes(6).toString('hex');
  let record: ReseedRecord = {
    id,
    state: 'requested',
    from: ctx.donor.host,
    reason: ctx.reason,
    startedAt: Date.now(),
  };
  const update = (patch: Partial<ReseedRecord>) => {
    record = { ...record, ...patch };
    ctx.progress(record);
  };
  update({});
  ctx.log('reseed-start', { id, from: ctx.donor.host, reason: ctx.reason });
  const abort = new AbortController();
  const timeoutMs = ctx.config.timeoutS * 1000;
  const timer = setTimeout(
    () => abort.abort(new Error(`the reseed took longer than ${ctx.config.timeoutS} s`)),
    timeoutMs,
  );
  try {
    const work = runSteps(ctx, id, update, abort.signal);
    const aborted = new Promise<never>((_, reject) =>
      abort.signal.addEventListener('abort', () => reject(abort.signal.reason as Error)),
    );
    await Promise.race([work, aborted]);
    work.catch(() => {});
    update({ state: 'done', endedAt: Date.now(), ms: Date.now() - record.startedAt });
    ctx.log('reseeded', { id, from: ctx.donor.host, ms: record.ms, bytes: record.bytes, gtid: record.gtid });
  } catch (err) {
    abort.abort(err);
    const error = (err as Error).message;
    update({ state: 'failed', endedAt: Date.now(), ms: Date.now() - record.startedAt, error });
    ctx.log('reseed-failed', { id, from: ctx.donor.host, error });
  } finally {
    clearTimeout(timer);
    await ctx.withdraw().catch(() => {});
  }
  saveRecord(ctx.config.keepDir, record);
  return record;
}

async function runSteps(
  ctx: ReseedContext,
  id: string,
  update: (patch: Partial<ReseedRecord>) => void,
  signal: AbortSignal,
): Promise<void> {
  const { config } = ctx;
  const newData = path.join(config.workDir, 'data');
  fs.rmSync(config.workDir, { recursive: true, force: true });
  fs.mkdirSync(newData, { recursive: true, mode: 0o700 });
  const binlogBase = await ctx.db.binlogBasename(2000);
  const token = randomBytes(24).toString('base64url');

  // 1. Listen, ask, receive.
  const received = receiveBackup(ctx.address, config.port, ctx.donor.address, token, newData, signal);
  await received.listening;
  await ctx.request({
    id,
    host: ctx.host,
    from: ctx.donor.host,
    address: ctx.address,
    port: config.port,
    token,
    at: Date.now(),
  });
  update({ state: 'receiving' });
  const bytes = await received.done;
  await ctx.withdraw();
  update({ state: 'preparing', bytes });

  // 2. Prepare beside the live datadir, on the same filesystem (the swap is a rename).
  await run(prepareCommand(newData), signal, 'mariadb-backup --prepare');
  const info = readBinlogInfo(newData);
  const restore: PendingRestore = {
    binlogState: reseededBinlogState(ctx.donorBinlogState(), info.gtid),
    gtid: info.gtid,
  };
  update({ state: 'restarting', gtid: info.gtid });

  // 3. Swap under a frozen server, kill it; its supervisor starts it on the restored data.
  // What the restored instance still needs goes inside its datadir: a sentinel restarted
  // after the swap finds it there (pendingRestore) and finishes it before the instance
  // replicates; before the swap it is not in the live datadir.
  fs.writeFileSync(path.join(newData, RESTORE_FILE), JSON.stringify(restore));
  const keptAside = keptAsideDir(config.keepDir, Date.now(), id);
  swapDataDirs(config.dataDir, newData, path.join(config.workDir, 'diverged-data'), ctx.pidFile);
  keepBinlogs(path.join(config.workDir, 'diverged-data'), binlogBase, keptAside);
  update({ keptAside });
  fs.rmSync(path.join(config.workDir, 'diverged-data'), { recursive: true, force: true });

  // 4. Back up, read-only: the binlog state of the backup's point, then the usual rejoin.
  await waitForDb(ctx.db, signal);
  await finishRestore(ctx.db, config, restore);
}

/** The binlog state and replication position a restored instance takes before it replicates. */
export interface PendingRestore {
  readonly binlogState: string;
  readonly gtid: string;
}

const RESTORE_FILE = 'tandem-restore.json';

/** A restore the swap left unfinished (the sentinel stopped in between), if any. */
export function pendingRestore(config: SentinelReseedConfig): PendingRestore | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(config.dataDir, RESTORE_FILE), 'utf8')) as PendingRestore;
  } catch {
    return null;
  }
}

/** Sets the restored instance's binlog state and position, then drops the scratch folder. */
export async function finishRestore(db: LocalDb, config: SentinelReseedConfig, restore: PendingRestore): Promise<void> {
  await db.restoreBinlogState(restore.binlogState, restore.gtid, 5000);
  fs.rmSync(path.join(config.dataDir, RESTORE_FILE), { force: true });
  fs.rmSync(config.workDir, { recursive: true, force: true });
}

/**
 * Listens for the donor's connection; what follows the token goes into `mbstream -x`
 * (`dir`). A connection from another address, or without the token, is dropped and the
 * listener waits on. `listening` gives the port; `done`, the bytes received.
 */
export function receiveBackup(
  address: string,
  port: number,
  donorAddress: string,
  token: string,
  dir: string,
  signal: AbortSignal,
): { listening: Promise<number>; done: Promise<number> } {
  const server = net.createServer();
  const listening = new Promise<number>((resolve, reject) => {
    server.once('error', (err) => {
      server.close();
      reject(err);
    });
    server.listen({ host: address, port, exclusive: true }, () => resolve((server.address() as net.AddressInfo).port));
  });
  const done = new Promise<number>((resolve, reject) => {
    const close = () => server.close();
    signal.addEventListener('abort', () => {
      close();
      reject(signal.reason as Error);
    });
    server.on('connection', (socket) => {
      // On loopback a connection comes from 127.0.0.1 unless the donor binds its address; it does.
      if (socket.remoteAddress?.replace(/^::ffff:/, '') !== donorAddress) return socket.destroy();
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const nl = head.indexOf(10);
        if (nl < 0) {
          if (head.length > 256) socket.destroy();
          return;
        }
        socket.off('data', onData);
        if (head.subarray(0, nl).toString() !== token) return socket.destroy();
        close();
        socket.pause();
        const extract = start(extractCommand(dir), signal, 'pipe');
        let bytes = head.length - nl - 1;
        extract.child.stdin!.write(head.subarray(nl + 1));
        socket.on('data', (c: Buffer) => (bytes += c.length));
        socket.pipe(extract.child.stdin!);
        socket.on('error', (err) => extract.child.kill('SIGKILL') && reject(err));
        extract.exited.then(() => resolve(bytes), reject);
      };
      socket.on('data', onData);
    });
  });
  done.catch(() => server.close());
  return { listening, done };
}

/** The donor's side: the backup, streamed to the receiver after its token. Resolves once sent whole. */
export async function sendBackup(
  req: ReseedRequest,
  opts: {
    readonly config: SentinelReseedConfig;
    readonly localAddress: string;
    readonly password: string;
  },
): Promise<{ bytes: number; ms: number }> {
  const started = Date.now();
  const dir = path.join(opts.config.workDir, `backup-${req.id}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'target'), { recursive: true, mode: 0o700 });
  const defaults = path.join(dir, 'backup.cnf');
  const serverOptions = fs.readFileSync(opts.config.defaultsFile, 'utf8');
  fs.writeFileSync(defaults, backupDefaults(serverOptions, opts.config.user, opts.password), { mode: 0o600 });
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(new Error(`the backup took longer than ${opts.config.timeoutS} s`)),
    opts.config.timeoutS * 1000,
  );
  try {
    const bytes = await sendStream(
      req,
      opts.localAddress,
      backupCommand(defaults, path.join(dir, 'target')),
      abort.signal,
    );
    return { bytes, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
    abort.abort(new Error('done'));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Connects from `localAddress` to the receiver, sends the token, then what `argv` writes
 * to stdout. Resolves to the bytes sent once the tool exited 0 and all was flushed.
 */
export async function sendStream(
  req: Pick<ReseedRequest, 'address' | 'port' | 'token'>,
  localAddress: string,
  argv: readonly string[],
  signal: AbortSignal,
): Promise<number> {
  const socket = await connect(req, localAddress, signal);
  socket.write(`${req.token}\n`);
  const tool = start(argv, signal, 'ignore');
  let bytes = 0;
  tool.child.stdout!.on('data', (c: Buffer) => (bytes += c.length));
  tool.child.stdout!.pipe(socket);
  socket.on('error', () => tool.child.kill('SIGKILL'));
  try {
    await tool.exited;
  } catch (err) {
    socket.destroy();
    throw err;
  }
  await new Promise<void>((resolve) => (socket.writableFinished ? resolve() : socket.once('finish', resolve)));
  return bytes;
}

function connect(
  req: Pick<ReseedRequest, 'address' | 'port'>,
  localAddress: string,
  signal: AbortSignal,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: req.address, port: req.port, localAddress, signal });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * A tool we start ourselves (killed with the reseed when it is aborted), its stderr's end
 * kept for the error. `accepts` may count a non-zero exit as success (from its stderr).
 */
export function start(
  argv: readonly string[],
  signal: AbortSignal,
  stdin: 'pipe' | 'ignore',
  opts: { env?: NodeJS.ProcessEnv; accepts?: (code: number, stderr: string) => boolean } = {},
): { child: ChildProcess; exited: Promise<void> } {
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: [stdin, 'pipe', 'pipe'],
    signal,
    killSignal: 'SIGKILL',
    ...(opts.env ? { env: opts.env } : {}),
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
  if (stdin === 'pipe') child.stdin!.on('error', () => {});
  const name = path.basename(argv[0]!);
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`${name}: ${err.message}`)));
    child.once('close', (code, sig) => {
      if (code === 0 || (code !== null && opts.accepts?.(code, stderr))) return resolve();
      const last = stderr.trim().split('\n').slice(-3).join(' | ');
      reject(new Error(`${name} ${argv.slice(1, 3).join(' ')} exited with ${sig ?? `code ${code}`}: ${last}`));
    });
  });
  exited.catch(() => {});
  return { child, exited };
}

export async function run(argv: readonly string[], signal: AbortSignal, what: string): Promise<void> {
  const p = start(argv, signal, 'ignore');
  p.child.stdout!.resume();
  await p.exited.catch((err: Error) => {
    throw new Error(`${what}: ${err.message}`);
  });
}

function readBinlogInfo(dir: string) {
  for (const name of BINLOG_INFO_FILES) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return parseBinlogInfo(fs.readFileSync(file, 'utf8'));
  }
  throw new Error(`the backup has no binlog info (${BINLOG_INFO_FILES.join(' or ')})`);
}

/**
 * Renames the live datadir aside and the prepared one into its place while the server is
 * frozen (SIGSTOP: it touches no file in between), then SIGKILLs it. Its supervisor
 * starts it again on the restored data.
 */
function swapDataDirs(dataDir: string, prepared: string, aside: string, pidFile: string): void {
  let pid: number | null = null;
  try {
    const n = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(n) && n > 1) pid = n;
  } catch {}
  if (pid !== null) process.kill(pid, 'SIGSTOP');
  try {
    fs.renameSync(dataDir, aside);
    fs.renameSync(prepared, dataDir);
  } finally {
    // A stopped process dies of SIGKILL too.
    if (pid !== null) process.kill(pid, 'SIGKILL');
  }
}

/** Moves the diverged datadir's binlogs (and their index) into `keptAside`, for a person. */
function keepBinlogs(oldData: string, binlogBase: string, keptAside: string): void {
  fs.mkdirSync(keptAside, { recursive: true, mode: 0o700 });
  for (const name of fs.readdirSync(oldData)) {
    if (isBinlogFile(name, binlogBase)) fs.renameSync(path.join(oldData, name), path.join(keptAside, name));
  }
}

async function waitForDb(db: LocalDb, signal: AbortSignal): Promise<void> {
  for (;;) {
    if (signal.aborted) throw signal.reason as Error;
    try {
      const o = await db.observe(1000);
      if (!o.readOnly) throw new Error('the restored database came up writable');
      return;
    } catch (err) {
      if ((err as Error).message.includes('writable')) throw err;
      db.close();
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** The last reseed's record, kept beside the binlogs it set aside (`tandem status` shows it). */
function saveRecord(keepDir: string, record: ReseedRecord): void {
  try {
    fs.mkdirSync(keepDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(keepDir, 'last-reseed.json'), `${JSON.stringify(record, null, 2)}\n`);
    if (record.keptAside) {
      fs.writeFileSync(path.join(record.keptAside, 'reseed.json'), `${JSON.stringify(record, null, 2)}\n`);
    }
  } catch {}
}

/** The last reseed's record, when one was made on this host. */
export function loadLastRecord(keepDir: string): ReseedRecord | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(keepDir, 'last-reseed.json'), 'utf8')) as ReseedRecord;
  } catch {
    return null;
  }
}
