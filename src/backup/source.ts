/**
 * The backup source beside each database (issue 10): tandem's Node process on the db
 * host, listening on the host's address at `plan.backup.sourcePort` (the firewall opens
 * it to the backup host only, and it answers only that address and requests signed
 * with the stack's backup token, auth.ts).
 *
 * `GET /state` says whether its database is the primary or a replica and how far behind.
 * `POST /backup?id=…[&incrementalLsn=…]` streams `mariadb-backup --backup
 * --stream=mbstream` of the local database back. On a replica it first stops the SQL
 * thread, reads `gtid_slave_pos` and counts and checksums every table of the app's
 * schema: the data no longer moves until the backup ended and the SQL thread starts
 * again, so those figures are the source *at the backup's GTID*, which the restore drill
 * compares with. Semi-sync acknowledgements come from the IO thread, which keeps running:
 * the primary keeps committing meanwhile, and the replica stays its sync replica (the
 * sentinel reads the pause's marker file). A promotion takes the pause over: the backup
 * then fails, and the SQL thread is the sentinel's to start. `GET /backup/<id>/result`
 * gives those figures, the LSNs and the binlog info once the backup ended.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { backupCommand, backupDefaults, BINLOG_INFO_FILES, parseBinlogInfo } from '../sentinel/reseed-plan.ts';
import { start } from '../sentinel/reseed.ts';
import { AUTH_HEADER, BACKUP_READY_PATH, verifyRequest } from './auth.ts';
import {
  type Checkpoints,
  gtidOfBackupInfo,
  parseCheckpoints,
  type SourceState,
  type TableFigures,
} from './manifest.ts';
import { tableFigures } from './tables.ts';

/** The source's config file (orchestrate/backup.ts writes it): addresses and paths, no secret. */
export interface BackupSourceConfig {
  readonly host: string;
  readonly address: string;
  readonly port: number;
  /** The backup host's address: the only one answered. */
  readonly agentAddress: string;
  readonly socket: string;
  /** The database's option file; mariadb-backup reads it, then the backup user's group. */
  readonly defaultsFile: string;
  readonly user: string;
  readonly passwordFile: string;
  /** The request token (auth.ts), 0600. */
  readonly tokenFile: string;
  readonly workDir: string;
  /**
   * Present, holding the backup's id, while this source holds the replica's SQL thread
   * stopped. The sentinel beside the database reads it (the replica stays the sync
   * replica), and removes it when it promotes the replica: the pause is then the
   * sentinel's, which starts the thread again, and the backup is abandoned.
   */
  readonly pauseMarker: string;
  /** The app's schema: the tables the drill compares. */
  readonly schema: string;
  readonly timeoutS: number;
}

/** What the source reports once a backup ended (`GET /backup/<id>/result`). */
export interface SourceResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly role: 'replica' | 'primary';
  /** Replica: the position its SQL thread was paused at (the backup's GTID). */
  readonly pausedAt?: string;
  /** Replica: the tables at the paused position; primary: as they were at the start (names only compare). */
  readonly tables: Record<string, TableFigures>;
  readonly checkpoints?: Checkpoints;
  readonly gtid?: string;
  readonly bytes: number;
}

/** Answers 200 without auth: supervisor readiness, from the host itself. */

type Log = (line: string) => void;

export function buildSource(config: BackupSourceConfig, log: Log): http.Server {
  const token = fs.readFileSync(config.tokenFile, 'utf8').trim();
  const results = new Map<string, Promise<SourceResult>>();
  let busy = false;
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://source');
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
    };
    if (req.method === 'GET' && url.pathname === BACKUP_READY_PATH) return void res.end('ok\n');
    const from = req.socket.remoteAddress?.replace(/^::ffff:/, '');
    const header = req.headers[AUTH_HEADER];
    if (
      from !== config.agentAddress ||
      !verifyRequest(token, typeof header === 'string' ? header : undefined, req.method ?? '', req.url ?? '')
    ) {
      log(`refused ${req.method} ${url.pathname} from ${from}`);
      return reply(403, { error: 'forbidden' });
    }
    const fail = (err: unknown) => reply(500, { error: (err as Error).message });
    if (req.method === 'GET' && url.pathname === '/state')
      return void sourceState(config).then((s) => reply(200, s), fail);
    const result = /^\/backup\/([\w-]{1,64})\/result$/.exec(url.pathname);
    if (req.method === 'GET' && result) {
      const job = results.get(result[1]!);
      if (!job) return reply(404, { error: `no backup ${result[1]}` });
      return void job.then((r) => reply(200, r), fail);
    }
    if (req.method === 'POST' && url.pathname === '/backup') {
      const id = url.searchParams.get('id') ?? '';
      const lsn = url.searchParams.get('incrementalLsn');
      if (!/^[\w-]{1,64}$/.test(id) || (lsn !== null && !/^\d+$/.test(lsn)))
        return reply(400, { error: 'needs id and an optional numeric incrementalLsn' });
      if (busy) return reply(409, { error: 'a backup is already under way here' });
      busy = true;
      const job = streamBackup(config, id, lsn, res, log).finally(() => (busy = false));
      results.set(id, job);
      // One result kept a while for the agent: it asks right after the stream ended.
      setTimeout(() => results.delete(id), 600_000).unref();
      return;
    }
    reply(404, { error: 'not found' });
  });
}

/** Why a backup ends when a promotion took its pause over (the sentinel removed the marker). */
const PAUSE_TAKEN =
  'the replica is being promoted: its sentinel started the SQL thread again, so the data moved under the backup';

/**
 * At start: a replica's SQL thread this source stopped and never restarted (it died during
 * a backup) is started again, so replication does not stay halted.
 */
export async function resumeAfterCrash(config: BackupSourceConfig, log: Log): Promise<void> {
  const marker = config.pauseMarker;
  if (!fs.existsSync(marker)) return;
  const conn = await connect(config.socket);
  try {
    await conn.query('START SLAVE SQL_THREAD');
    fs.rmSync(marker, { force: true });
    log('started the SQL thread again: a previous run paused it for a backup and stopped before it ended');
  } finally {
    conn.destroy();
  }
}

function readIfThere(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function connect(socket: string): Promise<Connection> {
  return mysql.createConnection({ socketPath: socket, user: 'root', connectTimeout: 3000 });
}

async function replicaOf(conn: Connection): Promise<SourceState['replica']> {
  const [rows] = await conn.query<RowDataPacket[]>('SHOW SLAVE STATUS');
  const s = rows[0];
  if (!s) return null;
  return {
    ioRunning: s.Slave_IO_Running === 'Yes',
    sqlRunning: s.Slave_SQL_Running === 'Yes',
    lagS: s.Seconds_Behind_Master === null ? null : Number(s.Seconds_Behind_Master),
  };
}

async function sourceState(config: BackupSourceConfig): Promise<SourceState> {
  const conn = await connect(config.socket);
  try {
    const [[ro]] = await conn.query<RowDataPacket[]>('SELECT @@read_only AS ro');
    return { host: config.host, writable: Number(ro!.ro) === 0, replica: await replicaOf(conn) };
  } finally {
    conn.destroy();
  }
}

async function streamBackup(
  config: BackupSourceConfig,
  id: string,
  incrementalLsn: string | null,
  res: http.ServerResponse,
  log: Log,
): Promise<SourceResult> {
  const dir = path.join(config.workDir, id);
  const lsnDir = path.join(dir, 'lsn');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'target'), { recursive: true, mode: 0o700 });
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(new Error(`took longer than ${config.timeoutS} s`)),
    config.timeoutS * 1000,
  );
  res.on('close', () => {
    if (!res.writableFinished) abort.abort(new Error('the agent went away'));
  });
  const conn = await connect(config.socket);
  const ownsPause = () => readIfThere(config.pauseMarker) === id;
  let watch: NodeJS.Timeout | undefined;
  let paused = false;
  let role: SourceResult['role'] = 'primary';
  let tables: Record<string, TableFigures> = {};
  let pausedAt: string | undefined;
  let bytes = 0;
  try {
    const [[ro]] = await conn.query<RowDataPacket[]>('SELECT @@read_only AS ro');
    if (Number(ro!.ro) !== 0 && (await replicaOf(conn))) {
      role = 'replica';
      // Marked first: a source that dies before it restarts the thread does so when it starts again.
      fs.writeFileSync(config.pauseMarker, id);
      await conn.query('STOP SLAVE SQL_THREAD');
      paused = true;
      if (!ownsPause()) {
        // Claimed by a promotion before the stop, which may have come after its start.
        await conn.query('START SLAVE SQL_THREAD');
        throw new Error(PAUSE_TAKEN);
      }
      watch = setInterval(() => {
        if (!ownsPause()) abort.abort(new Error(PAUSE_TAKEN));
      }, 200);
      const [[pos]] = await conn.query<RowDataPacket[]>('SELECT @@gtid_slave_pos AS gtid');
      pausedAt = String(pos!.gtid);
    }
    tables = await tableFigures(conn, config.schema);
    log(`${id}: backing up (${role}${pausedAt !== undefined ? `, SQL thread paused at ${pausedAt}` : ''})`);
    const defaults = path.join(dir, 'backup.cnf');
    const password = fs.readFileSync(config.passwordFile, 'utf8').trim();
    fs.writeFileSync(defaults, backupDefaults(fs.readFileSync(config.defaultsFile, 'utf8'), config.user, password), {
      mode: 0o600,
    });
    const argv = [
      ...backupCommand(defaults, path.join(dir, 'target')),
      `--extra-lsndir=${lsnDir}`,
      ...(incrementalLsn !== null ? [`--incremental-lsn=${incrementalLsn}`] : []),
    ];
    // Sent now, not with the tool's first bytes: a backup that fails from here on, before
    // any byte too, is a broken stream the agent records as a failed backup with our reason.
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).flushHeaders();
    const tool = start(argv, abort.signal, 'ignore');
    tool.child.stdout!.on('data', (c: Buffer) => (bytes += c.length));
    tool.child.stdout!.pipe(res);
    await tool.exited;
    const checkpoints = parseCheckpoints(fs.readFileSync(path.join(lsnDir, 'xtrabackup_checkpoints'), 'utf8'));
    const info = BINLOG_INFO_FILES.map((f) => path.join(lsnDir, f)).find((f) => fs.existsSync(f));
    const gtid = info
      ? parseBinlogInfo(fs.readFileSync(info, 'utf8')).gtid
      : gtidOfBackupInfo(readIfThere(path.join(lsnDir, 'xtrabackup_info')));
    // Ended, but perhaps after the promotion's restart of the SQL thread: not at pausedAt.
    if (paused && !ownsPause()) throw new Error(PAUSE_TAKEN);
    log(`${id}: sent ${bytes} bytes, GTID ${gtid}, to_lsn ${checkpoints.toLsn}`);
    return { ok: true, role, ...(pausedAt !== undefined ? { pausedAt } : {}), tables, checkpoints, gtid, bytes };
  } catch (err) {
    // Aborted: the reason says why, not the killed tool's exit.
    const error = ((abort.signal.aborted ? abort.signal.reason : err) as Error).message;
    log(`${id}: failed: ${error}`);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
    res.destroy(new Error(error));
    return { ok: false, error, role, tables, bytes };
  } finally {
    clearTimeout(timer);
    clearInterval(watch);
    // Only a pause still ours: after a promotion took it, the database may be a primary now.
    if (paused && ownsPause())
      await conn
        .query('START SLAVE SQL_THREAD')
        .then(() => fs.rmSync(config.pauseMarker, { force: true }))
        .catch((e: Error) => log(`${id}: START SLAVE: ${e.message}`));
    else if (paused) log(`${id}: the SQL thread was left to the promotion that took the pause over`);
    conn.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
