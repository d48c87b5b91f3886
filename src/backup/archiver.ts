/**
 * The binlog archiver (issue 10): on the backup host, it finds the primary the way the
 * app's client does (the one writable database: this works with and without failover,
 * and after a switchover or failover the new primary is writable only once it is the
 * primary), and keeps `mariadb-binlog --raw --stop-never` streaming that primary's
 * binlog into the archive. Every tick it scans what was appended (binlog-scan.ts),
 * keeps the index, checks the GTID sequence for holes, encrypts the files the stream
 * has left and measures how far behind the primary the archive is.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import mysql from 'mysql2/promise';
import { backupKeyFrom, encryptStream, hashingStream } from './crypt.ts';
import {
  type ArchiveIndex,
  type ArchivedFile,
  advance,
  archivePosition,
  checkNext,
  checkStart,
  EMPTY_INDEX,
  isDivergent,
  seqKey,
  formatPosition,
  pickStartFile,
  type ServerFile,
  type StartChoice,
  upsertFile,
} from './archive-index.ts';
import {
  type ArchiverConfig,
  type ArchiverNode,
  archiveStreamCommand,
  binlogOf,
  hostFolder,
  segmentPrefix,
  parseArchiverOptionFile,
} from './archiver-config.ts';
import { type ArchiverState, renderArchiverMetrics } from './archiver-state.ts';
import { type BinlogScan, EMPTY_SCAN, scanBinlog } from './binlog-scan.ts';
import { parseGtidPosition } from '../db/gtid.ts';

export const INDEX_FILE = 'index.json';

/** A binlog file's name as the server writes it (`binlog.000003`); `.enc` and temporary files are not. */
const BINLOG_NAME = /^(?:s\d+-)?[A-Za-z0-9_]+\.\d{6,}$/;

/** GTIDs remembered for divergence checks: more than a failover's worth of transactions. */
const RECENT = 100_000;

const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);

interface Probe {
  readonly host: string;
  readonly readOnly?: boolean;
  readonly gtid?: string;
  readonly error?: string;
}

export function readIndex(archiveDir: string): ArchiveIndex {
  try {
    return JSON.parse(fs.readFileSync(path.join(archiveDir, INDEX_FILE), 'utf8')) as ArchiveIndex;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_INDEX;
    throw err;
  }
}

function writeAtomic(file: string, content: string): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, content, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export class Archiver {
  private index: ArchiveIndex;
  private pos: Map<number, bigint>;
  private readonly scans = new Map<string, BinlogScan>();
  /** The last GTIDs archived by `seqKey` (at most RECENT), to tell a diverged new primary from a repeat. */
  private readonly recent = new Map<string, string>();
  private readonly conns = new Map<string, mysql.Connection>();
  private readonly credentials: { user: string; password: string };
  private readonly key: Buffer;
  private child: { host: string; proc: ChildProcess; exited: boolean; prefix: string } | undefined;
  private primary: Probe | undefined;
  private lastCaughtUp = Date.now();
  private liveSince = new Map<string, number>();
  private lastError: string | null = null;
  private nextStartAt = 0;
  private state: ArchiverState | undefined;
  private server: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private dirty = false;

  constructor(private readonly config: ArchiverConfig) {
    fs.mkdirSync(config.archiveDir, { recursive: true, mode: 0o700 });
    fs.chmodSync(config.archiveDir, 0o700);
    this.index = readIndex(config.archiveDir);
    this.pos = archivePosition(this.index);
    this.credentials = parseArchiverOptionFile(fs.readFileSync(config.defaultsFile, 'utf8'));
    this.key = backupKeyFrom(fs.readFileSync(config.keyFile, 'utf8').trim());
  }

  /** Ends the stream a previous archiver left running (it was killed before it could), by its recorded PID. */
  private async endOrphanStream(): Promise<void> {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.config.streamPidFile, 'utf8'));
    } catch {
      return;
    }
    const isOurs = () => {
      try {
        const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return cmdline.includes('mariadb-binlog') && cmdline.includes(this.config.archiveDir);
      } catch {
        return false;
      }
    };
    if (pid > 0 && isOurs()) {
      log(`ending the stream a previous archiver left running (pid ${pid})`);
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 50 && isOurs(); i++) await new Promise((r) => setTimeout(r, 20));
    }
    fs.rmSync(this.config.streamPidFile, { force: true });
  }

  async start(): Promise<void> {
    await this.endOrphanStream();
    this.server = createServer((req, res) => {
      if (req.url === '/metrics' && this.state) {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(renderArchiverMetrics(this.state, Date.now()));
      } else if (req.url === '/state' && this.state) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(this.state));
      } else {
        res.writeHead(this.state ? 404 : 503);
        res.end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.config.listen.port, this.config.listen.address, resolve);
    });
    log(
      `archiving into ${this.config.archiveDir}; listening on ${this.config.listen.address}:${this.config.listen.port}`,
    );
    const loop = async () => {
      if (this.stopped) return;
      await this.tick().catch((err: unknown) => {
        this.lastError = (err as Error).message;
        log(`tick failed: ${this.lastError}`);
        // The state says so (and makes the archiver ready: it runs, and reports why it does not stream).
        this.report();
      });
      if (!this.stopped) this.timer = setTimeout(() => void loop(), this.config.tickMs);
    };
    await loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.stopStream();
    await Promise.all([...this.conns.values()].map((c) => c.end().catch(() => {})));
    this.saveIndex();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** One round: find the primary, (re)start the stream, scan, encrypt, report. */
  private async tick(): Promise<void> {
    const probes = await Promise.all(this.config.nodes.map((n) => this.probe(n)));
    const writable = probes.filter((p) => p.readOnly === false);
    this.primary = writable.length === 1 ? writable[0] : undefined;
    const target = this.primary?.host;
    const streaming = this.child !== undefined && !this.child.exited;
    if (target && (!streaming || this.child!.host !== target) && Date.now() >= this.nextStartAt) {
      await this.follow(this.config.nodes.find((n) => n.host === target)!);
    }
    this.scanAll();
    await this.sealLive();
    await this.encryptClosed();
    this.saveIndex();
    this.report();
  }

  /** `@@global.read_only` and `@@global.gtid_binlog_pos` of one node, on a kept connection. */
  private async probe(node: ArchiverNode): Promise<Probe> {
    try {
      let conn = this.conns.get(node.host);
      if (!conn) {
        conn = await mysql.createConnection({
          host: node.address,
          port: node.port,
          ...this.credentials,
          connectTimeout: 1000,
        });
        conn.on('error', () => {});
        this.conns.set(node.host, conn);
      }
      const [rows] = await conn.query({
        sql: 'SELECT @@global.read_only AS ro, @@global.gtid_binlog_pos AS pos',
        timeout: 1000,
      });
      const row = (rows as { ro: number | string; pos: string }[])[0]!;
      return { host: node.host, readOnly: Number(row.ro) !== 0, gtid: row.pos };
    } catch (err) {
      const conn = this.conns.get(node.host);
      this.conns.delete(node.host);
      conn?.destroy();
      return { host: node.host, error: (err as Error).message };
    }
  }

  /** The host's binlog files and each one's start state (its Gtid_list event). */
  private async serverFiles(host: string): Promise<ServerFile[]> {
    const conn = this.conns.get(host);
    if (!conn) throw new Error(`no connection to ${host}`);
    const [logs] = await conn.query({ sql: 'SHOW BINARY LOGS', timeout: 2000 });
    const files: ServerFile[] = [];
    for (const row of logs as { Log_name: string }[]) {
      const [events] = await conn.query({
        sql: 'SHOW BINLOG EVENTS IN ? LIMIT 3',
        values: [row.Log_name],
        timeout: 2000,
      });
      const list = (events as { Event_type: string; Info: string }[]).find((e) => e.Event_type === 'Gtid_list');
      files.push({ name: row.Log_name, gtidList: (list?.Info ?? '').replace(/^\[|\]$/g, '').replace(/\s+/g, '') });
    }
    return files;
  }

  /** Starts streaming `node` from the file that continues the archive. */
  private async follow(node: ArchiverNode, sealed?: StartChoice): Promise<void> {
    const was = this.child?.host;
    await this.stopStream();
    // Everything the old stream wrote is counted before the new one's files are.
    this.scanAll();
    let choice = sealed ?? pickStartFile(this.index, node.host, await this.serverFiles(node.host));
    if (!sealed) choice = this.keepAndResume(node.host, choice) ?? choice;
    // A start past the archive is recorded as a hole when the file's Gtid_list is scanned.
    if (choice.hole) log(`no binlog of ${node.host} continues the archive (${choice.hole.have} → ${choice.hole.next})`);
    const folder = hostFolder(this.config.archiveDir, node.host);
    fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
    // Fetched again whole: the partial copy is replaced, and scanned afresh.
    const prefix = segmentPrefix(choice.startPos);
    fs.rmSync(path.join(folder, `${prefix}${choice.name}`), { force: true });
    this.scans.delete(`${node.host}/${prefix}${choice.name}`);
    this.liveSince.delete(`${node.host}/${prefix}${choice.name}`);
    const argv = archiveStreamCommand(this.config, node, choice.name, choice.startPos);
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    const child = { host: node.host, proc, exited: false, prefix };
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    proc.on('exit', (code, signal) => {
      child.exited = true;
      if (!this.stopped && this.child === child) {
        this.lastError = `mariadb-binlog from ${node.host} ended (${signal ?? `exit ${code}`}): ${stderr.trim()}`;
        log(this.lastError);
        // Not at once: a primary that refuses us would otherwise be asked 5 times a second.
        this.nextStartAt = Date.now() + 1000;
      }
    });
    proc.on('error', (err) => {
      child.exited = true;
      this.lastError = `mariadb-binlog did not start: ${err.message}`;
    });
    this.child = child;
    if (proc.pid) fs.writeFileSync(this.config.streamPidFile, String(proc.pid));
    log(
      `following ${node.host}${was && was !== node.host ? ` (was ${was})` : ''} from ${choice.name}: ${choice.reason}`,
    );
  }

  private async stopStream(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exited) return;
    const exited = new Promise<void>((resolve) => child.proc.once('exit', () => resolve()));
    child.proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    if (!child.exited) child.proc.kill('SIGKILL');
  }

  private remember(gtid: string): void {
    const key = seqKey(gtid);
    // Re-inserted: the newest holder of a sequence number is the history that goes on.
    this.recent.delete(key);
    this.recent.set(key, gtid);
    if (this.recent.size > RECENT) this.recent.delete(this.recent.keys().next().value!);
  }

  private recordDivergence(host: string, name: string, gtid: string): void {
    log(`DIVERGENCE at ${host}/${name}: ${gtid} takes a sequence number the archive holds from the old primary`);
    this.index = {
      ...this.index,
      divergences: [...(this.index.divergences ?? []), { at: new Date().toISOString(), host, name, gtid }],
    };
    this.dirty = true;
  }

  private recordHole(host: string, name: string, hole: { have: string; next: string }): void {
    log(`HOLE in the archive at ${host}/${name}: after ${hole.have}, next ${hole.next}`);
    this.index = { ...this.index, holes: [...this.index.holes, { at: new Date().toISOString(), host, name, ...hole }] };
    this.dirty = true;
  }

  /** Plain files in the archive, in the order they were archived (new ones by name). */
  private plainFiles(): { host: string; name: string }[] {
    const known = this.index.files.filter((f) => !f.encrypted).map((f) => ({ host: f.host, name: f.name }));
    const found: { host: string; name: string }[] = [];
    for (const host of this.config.nodes.map((n) => n.host)) {
      let names: string[] = [];
      try {
        names = fs.readdirSync(hostFolder(this.config.archiveDir, host));
      } catch {}
      for (const name of names.filter((n) => BINLOG_NAME.test(n)).sort())
        if (!known.some((k) => k.host === host && k.name === name)) found.push({ host, name });
    }
    return [...known, ...found];
  }

  /** Reads what was appended to every plain file; records its GTIDs and any hole. */
  private scanAll(): void {
    for (const { host, name } of this.plainFiles()) this.scanFile(host, name);
  }

  private scanFile(host: string, name: string): void {
    const file = path.join(hostFolder(this.config.archiveDir, host), name);
    const key = `${host}/${name}`;
    const prev = this.scans.get(key) ?? EMPTY_SCAN;
    let chunk: Buffer;
    try {
      const fd = fs.openSync(file, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        chunk = Buffer.alloc(Math.max(0, size - prev.offset));
        fs.readSync(fd, chunk, 0, chunk.length, prev.offset);
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return;
    }
    if (chunk.length === 0 && this.scans.has(key)) return;
    const scan = scanBinlog(chunk, prev);
    this.scans.set(key, scan);
    if (!this.liveSince.has(key)) this.liveSince.set(key, Date.now());
    if (scan.gtidList !== undefined && prev.gtidList === undefined) {
      const hole = checkStart(this.pos, scan.gtidList);
      if (hole) this.recordHole(host, name, hole);
      this.pos = advance(this.pos, scan.gtidList);
    }
    for (const gtid of scan.gtids) {
      if (isDivergent(this.recent, gtid)) this.recordDivergence(host, name, gtid);
      const next = checkNext(this.pos, gtid);
      if (next.hole) this.recordHole(host, name, next.hole);
      this.pos = next.pos;
      this.remember(gtid);
    }
    if (scan.offset === prev.offset && this.index.files.some((f) => f.host === host && f.name === name)) return;
    const entry: ArchivedFile = {
      host,
      name,
      binlog: binlogOf(name),
      // Until its first event is read, a segment's start is in its name.
      startPos: scan.startPos ?? (Number(/^s(\d+)-/.exec(name)?.[1]) || 4),
      file: `${host}/${name}`,
      encrypted: false,
      size: scan.offset,
      rotated: scan.rotated,
      ...(scan.gtidList !== undefined ? { gtidList: scan.gtidList } : {}),
      ...(scan.firstGtid !== undefined
        ? { firstGtid: scan.firstGtid, lastGtid: scan.lastGtid, firstTime: scan.firstTime, lastTime: scan.lastTime }
        : {}),
    };
    this.index = upsertFile(this.index, entry);
    this.dirty = true;
  }

  /** The file the stream appends to now: the newest plain file it named (its prefix, the highest binlog). */
  private liveFile(): { host: string; name: string } | undefined {
    if (!this.child || this.child.exited) return undefined;
    const { host, prefix } = this.child;
    return this.plainFiles()
      .filter((f) => f.host === host && f.name.startsWith(prefix) && binlogOf(f.name) === f.name.slice(prefix.length))
      .sort((a, b) => a.name.localeCompare(b.name))
      .at(-1);
  }

  /**
   * The live file after `sealEveryS`: cut after its last whole transaction, left to be
   * encrypted, and the stream restarted from that server position into a new segment.
   */
  private async sealLive(): Promise<void> {
    const live = this.liveFile();
    if (!live) return;
    const key = `${live.host}/${live.name}`;
    const since = this.liveSince.get(key);
    if (since === undefined || Date.now() - since < this.config.sealEveryS * 1000) return;
    if (!this.scans.get(key)?.committed) return;
    const node = this.config.nodes.find((n) => n.host === live.host)!;
    await this.stopStream();
    this.scanFile(live.host, live.name);
    const cut = this.scans.get(key)!.committed!;
    this.cutAt(live.host, live.name, cut);
    const binlog = binlogOf(live.name);
    log(`sealing ${key} at ${binlog}:${cut.serverPos} after ${this.config.sealEveryS} s`);
    await this.follow(node, { name: binlog, startPos: cut.serverPos, reason: 'the next segment of a sealed file' });
  }

  /** Cuts a plain file after its last whole transaction: one begun after it is fetched again by the next segment. */
  private cutAt(host: string, name: string, cut: { offset: number }): void {
    const key = `${host}/${name}`;
    fs.truncateSync(path.join(hostFolder(this.config.archiveDir, host), name), cut.offset);
    this.scans.set(key, { ...this.scans.get(key)!, offset: cut.offset, open: undefined });
    const entry = this.index.files.find((f) => f.host === host && f.name === name);
    if (entry) this.index = upsertFile(this.index, { ...entry, size: cut.offset });
    this.dirty = true;
  }

  /**
   * A restarted stream of the file the archive already holds in part: the part is kept,
   * cut after its last whole transaction, and the stream resumes there into a new
   * segment, instead of removing the file and fetching it again: a restore reading the
   * archive meanwhile never sees the file shrink, or its index entry lose its GTIDs, and
   * so never replays less than the archive held. Undefined when nothing whole is kept:
   * then it is fetched again.
   */
  private keepAndResume(host: string, choice: StartChoice): StartChoice | undefined {
    const name = `${segmentPrefix(choice.startPos)}${choice.name}`;
    const entry = this.index.files.find((f) => f.host === host && f.name === name);
    const cut = this.scans.get(`${host}/${name}`)?.committed;
    if (!entry || entry.encrypted || !cut || cut.serverPos <= choice.startPos) return undefined;
    this.cutAt(host, name, cut);
    return {
      name: choice.name,
      startPos: cut.serverPos,
      reason: `resuming ${host}'s ${choice.name} after its last whole transaction (${name} kept)`,
    };
  }

  /** Encrypts every plain file the stream has left (rotated away from, or a host no longer followed). */
  private async encryptClosed(): Promise<void> {
    const live = this.liveFile();
    for (const { host, name } of this.plainFiles()) {
      if (live && live.host === host && live.name === name) continue;
      const plain = path.join(hostFolder(this.config.archiveDir, host), name);
      if (!fs.existsSync(plain)) continue;
      this.scanFile(host, name);
      const enc = `${plain}.enc`;
      const hash = hashingStream();
      await pipeline(
        fs.createReadStream(plain),
        encryptStream(this.key),
        hash.stream,
        fs.createWriteStream(`${enc}.tmp`, { mode: 0o600 }),
      );
      fs.renameSync(`${enc}.tmp`, enc);
      const entry = this.index.files.find((f) => f.host === host && f.name === name);
      if (entry)
        this.index = upsertFile(this.index, {
          ...entry,
          file: `${host}/${name}.enc`,
          encrypted: true,
          sha256: hash.digest(),
        });
      this.saveIndex(true);
      fs.rmSync(plain);
      this.scans.delete(`${host}/${name}`);
      this.liveSince.delete(`${host}/${name}`);
      log(`encrypted ${host}/${name} (${entry?.size ?? 0} bytes, up to ${entry?.lastGtid ?? 'no transaction'})`);
    }
  }

  private saveIndex(force = false): void {
    if (!this.dirty && !force) return;
    writeAtomic(path.join(this.config.archiveDir, INDEX_FILE), `${JSON.stringify(this.index, null, 2)}\n`);
    this.dirty = false;
  }

  private report(): void {
    const now = Date.now();
    const primaryPos = this.primary?.gtid !== undefined ? parseGtidPosition(this.primary.gtid) : undefined;
    let behind: number | null = null;
    if (primaryPos) {
      behind = 0;
      for (const [domain, seq] of primaryPos) {
        const have = this.pos.get(domain) ?? 0n;
        if (seq > have) behind += Number(seq - have);
      }
      if (behind === 0) this.lastCaughtUp = now;
    }
    const live = this.liveFile();
    const liveKey = live && `${live.host}/${live.name}`;
    const last = [...this.index.files].reverse().find((f) => f.lastGtid)?.lastGtid ?? null;
    this.state = {
      following: this.child && !this.child.exited ? this.child.host : null,
      streaming: this.child !== undefined && !this.child.exited,
      primary: this.primary?.host ?? null,
      archivedGtid: formatPosition(this.pos),
      lastGtid: last,
      primaryGtid: this.primary?.gtid ?? null,
      behindTransactions: behind,
      lagSeconds: behind === null ? null : behind === 0 ? 0 : (now - this.lastCaughtUp) / 1000,
      holes: this.index.holes.length,
      divergences: this.index.divergences?.length ?? 0,
      liveFile:
        live && liveKey
          ? { file: liveKey, bytes: this.scans.get(liveKey)?.offset ?? 0, sinceMs: this.liveSince.get(liveKey) ?? now }
          : null,
      files: this.index.files.length,
      encryptedFiles: this.index.files.filter((f) => f.encrypted).length,
      lastError: this.lastError,
      updatedAt: now,
    };
    writeAtomic(this.config.stateFile, JSON.stringify(this.state));
  }
}
