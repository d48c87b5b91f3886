/**
 * Point-in-time replay (issue 10): the archived binlogs a restore plan names, applied to
 * a restored backup by MariaDB's own tools — `mariadb-binlog FILE | mariadb` — file by
 * file, from the position reached so far (GTID start positions are exclusive, so a
 * transaction the archive holds twice is applied once) up to the target (a GTID,
 * inclusive, or the end of a second). Where the archive recorded a divergence (an old
 * primary's transactions that the new one numbered again after a failover), the old
 * host's files stop before it: the new primary's history is the one acknowledged.
 *
 * The decisions (which file stops where, the GTID state reached) are pure and tested;
 * `replayBinlogs` runs them against a scratch server's socket.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gtidReached, parseGtidPosition } from '../db/gtid.ts';
import { start } from '../sentinel/reseed.ts';
import { type ArchivedFile, type ArchiveDivergence, type ArchiveIndex, upsertFile } from './archive-index.ts';
import { scanBinlog } from './binlog-scan.ts';
import { decryptStream, sha256File } from './crypt.ts';
import type { RestoreTarget } from './restore-plan.ts';

const MARIADB_BINLOG = '/usr/bin/mariadb-binlog';
const MARIADB = '/usr/bin/mariadb';

/** One archived file to replay, and where its replay stops. */
export interface ReplayStep {
  readonly file: ArchivedFile;
  /** `--stop-position` (inclusive, per domain), when the target or a divergence cuts the file. */
  readonly stopGtid?: string;
  /** `--stop-datetime` (UTC): the first second not replayed. */
  readonly stopDatetime?: string;
  /** The same second, in unix seconds. */
  readonly stopTime?: number;
}

/** `2026-11-25 03:04:06`: the second after `time` (unix seconds), for `--stop-datetime` with TZ=UTC. */
export function stopDatetimeAfter(time: number): string {
  return new Date((Math.floor(time) + 1) * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** Per domain, the smaller sequence number of two stop positions (`d-0-n` lists). */
function minStop(a: string | undefined, b: string | undefined): string | undefined {
  if (!a || !b) return a || b;
  const out = parseGtidPosition(a);
  for (const [domain, seq] of parseGtidPosition(b)) {
    const have = out.get(domain);
    out.set(domain, have === undefined || seq < have ? seq : have);
  }
  return [...out].map(([d, s]) => `${d}-0-${s}`).join(',');
}

/**
 * Where each file's replay stops. A divergence found later in the archive cuts every
 * earlier file of another host just before it: those transactions were never
 * acknowledged, the new primary numbered its own ones with the same sequence numbers.
 */
export function replaySteps(
  files: readonly ArchivedFile[],
  index: Pick<ArchiveIndex, 'files' | 'divergences'>,
  target: RestoreTarget,
): ReplayStep[] {
  const order = new Map(index.files.map((f, i) => [`${f.host}/${f.name}`, i]));
  const at = (host: string, name: string) => order.get(`${host}/${name}`) ?? -1;
  const divergences: readonly ArchiveDivergence[] = index.divergences ?? [];
  return files.map((file) => {
    let stop = 'gtid' in target ? target.gtid : undefined;
    for (const d of divergences) {
      if (d.host === file.host || at(d.host, d.name) <= at(file.host, file.name)) continue;
      const [domain, , seq] = d.gtid.split('-');
      stop = minStop(stop, `${domain}-0-${BigInt(seq!) - 1n}`);
    }
    return {
      file,
      ...(stop ? { stopGtid: stop } : {}),
      ...('time' in target
        ? { stopDatetime: stopDatetimeAfter(target.time), stopTime: Math.floor(target.time) + 1 }
        : {}),
    };
  });
}

/**
 * The GTID a step's replay must reach: the file's last one (or its stop position, if
 * earlier), when the file ends before the stop time; undefined when the stop time falls
 * inside it (then only the tool knows where it stops). A replay that falls short of it
 * missed archived transactions before the point: the restore must fail, not succeed.
 */
export function mustReach(step: ReplayStep): string | undefined {
  const last = step.file.lastGtid;
  if (!last) return undefined;
  if (step.stopTime !== undefined && (step.file.lastTime === undefined || step.file.lastTime >= step.stopTime))
    return undefined;
  const [domain, server, seq] = last.split('-');
  const stop = step.stopGtid ? parseGtidPosition(step.stopGtid).get(Number(domain)) : undefined;
  return stop !== undefined && stop < BigInt(seq!) ? `${domain}-${server}-${stop}` : last;
}

/** The `mariadb-binlog` command of one step, applied after `position` (the GTID state reached). */
export function replayCommand(step: ReplayStep, file: string, position: string): string[] {
  return [
    MARIADB_BINLOG,
    ...(position ? [`--start-position=${position}`] : []),
    ...(step.stopGtid ? [`--stop-position=${step.stopGtid}`] : []),
    ...(step.stopDatetime ? [`--stop-datetime=${step.stopDatetime}`] : []),
    file,
  ];
}

/** `#261125  3:04:05 server id 2  end_log_pos 832 CRC32 0x…  GTID 0-2-57 trans`: the GTID and its time. */
const GTID_LINE = /^#(\d{2})(\d{2})(\d{2})\s+(\d{1,2}):(\d{2}):(\d{2}) server id \d+ .*\tGTID (\d+-\d+-\d+)/;

/** A GTID comment line of `mariadb-binlog`'s output (printed in UTC: the tool runs with TZ=UTC). */
export function parseGtidLine(line: string): { gtid: string; time: number } | undefined {
  const m = GTID_LINE.exec(line);
  if (!m) return undefined;
  const [, yy, mo, dd, hh, mi, ss, gtid] = m;
  return { gtid: gtid!, time: Date.UTC(2000 + Number(yy), Number(mo) - 1, Number(dd), +hh!, +mi!, +ss!) / 1000 };
}

/**
 * The GTID state after a replay: per domain, the last GTID applied, else the backup's.
 * One entry per domain (`d-server-seq`): what the restored primary's binlog state is set to.
 */
export function reachedState(backupGtid: string, applied: readonly string[]): string {
  const last = new Map<string, string>();
  for (const gtid of [...(backupGtid ? backupGtid.split(',') : []), ...applied]) {
    const domain = gtid.split('-')[0]!;
    const have = last.get(domain);
    if (!have || BigInt(gtid.split('-')[2]!) >= BigInt(have.split('-')[2]!)) last.set(domain, gtid);
  }
  return [...last.values()].join(',');
}

export interface ReplayResult {
  /** The GTID state reached (one GTID per domain). */
  readonly gtid: string;
  /** Transactions applied from the archive. */
  readonly transactions: number;
  /** The last applied transaction's commit time (unix seconds), if any. */
  readonly lastTime?: number;
  readonly files: number;
  readonly bytes: number;
}

/**
 * Writes the plaintext of an archived file to `out` (0600): an encrypted one is checked
 * against its recorded sha256 and decrypted; a plain one (still being appended to when
 * the archiver stopped) is cut after its last whole event. Returns the bytes written.
 */
export async function plainCopy(archiveDir: string, f: ArchivedFile, key: Buffer, out: string): Promise<number> {
  const src = path.join(archiveDir, f.file);
  if (f.encrypted) {
    if (f.sha256 && (await sha256File(src)) !== f.sha256)
      throw new Error(`archived binlog ${f.file}: its checksum does not match the index (corrupt or altered)`);
    await pipeline(fs.createReadStream(src), decryptStream(key), fs.createWriteStream(out, { mode: 0o600 }));
    return fs.statSync(out).size;
  }
  const data = fs.readFileSync(src);
  const whole = scanBinlog(data).offset;
  // Shorter than the index says: the archiver is fetching it again from the server.
  if (whole < f.size)
    throw new Error(
      `archived binlog ${f.file} holds ${whole} bytes of whole events, fewer than the ${f.size} its index records: the archiver is fetching it again (try again in a moment; \`tandem status\` shows the archiver)`,
    );
  fs.writeFileSync(out, data.subarray(0, whole), { mode: 0o600 });
  return whole;
}

/** Passes the SQL through unchanged and calls `onLine` with each comment line (`#…`). */
function commentLines(onLine: (line: string) => void): Transform {
  let tail = '';
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const text = tail + chunk.toString('latin1');
      const lines = text.split('\n');
      tail = lines.pop()!;
      if (tail.length > 4096 && !tail.startsWith('#')) tail = '';
      for (const line of lines) if (line.startsWith('#')) onLine(line);
      done(null, chunk);
    },
    flush(done) {
      if (tail.startsWith('#')) onLine(tail);
      done();
    },
  });
}

/**
 * mariadb-binlog exits 1 when a file ends before its stop datetime or position: for every
 * file but the last one of a replay, that is the normal case, not an error.
 */
export function onlyStopNotReached(stderr: string): boolean {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  return lines.length > 0 && lines.every((l) => /^WARNING: Did not reach stop (datetime|position)/.test(l));
}

/** Runs `argv` piping its stdout through `through` into `into`'s stdin (both with TZ=UTC); rejects with the first failure. */
async function pipeProcesses(argv: string[], into: string[], through: Transform, signal: AbortSignal): Promise<void> {
  const env = { ...process.env, TZ: 'UTC' };
  const from = start(argv, signal, 'ignore', {
    env,
    accepts: (code, stderr) => code === 1 && onlyStopNotReached(stderr),
  });
  const to = start(into, signal, 'pipe', { env });
  to.child.stdout!.resume();
  const piped = pipeline(from.child.stdout!, through, to.child.stdin!);
  piped.catch(() => {});
  // The first failure kills both; the error said is a tool's own (the client's SQL error,
  // say), not the broken pipe it caused.
  const failed = new Promise<never>((_, reject) => {
    for (const p of [to.exited, from.exited, piped]) p.catch(reject);
  });
  failed.catch(() => {});
  try {
    await Promise.race([Promise.all([piped, from.exited, to.exited]), failed]);
  } catch {
    from.child.kill('SIGKILL');
    to.child.kill('SIGKILL');
    const results = await Promise.allSettled([to.exited, from.exited, piped]);
    const reasons = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    throw reasons.find((e) => !/EPIPE|SIGKILL|premature close/i.test(e.message)) ?? reasons[0]!;
  }
}

/**
 * Applies `steps` to the server on `socket` (root, no password: a scratch server), from
 * `backupGtid` on. Each file's plaintext is written to `work` first and removed after.
 */
export async function replayBinlogs(opts: {
  readonly archiveDir: string;
  readonly steps: readonly ReplayStep[];
  readonly backupGtid: string;
  readonly key: Buffer;
  readonly socket: string;
  readonly work: string;
  readonly signal: AbortSignal;
}): Promise<ReplayResult> {
  fs.mkdirSync(opts.work, { recursive: true, mode: 0o700 });
  const applied: string[] = [];
  let lastTime: number | undefined;
  let bytes = 0;
  const client = [MARIADB, '--no-defaults', `--socket=${opts.socket}`, '--user=root', '--binary-mode'];
  for (const step of opts.steps) {
    const plain = path.join(opts.work, path.basename(step.file.file).replace(/\.enc$/, ''));
    try {
      bytes += await plainCopy(opts.archiveDir, step.file, opts.key, plain);
      const position = reachedState(opts.backupGtid, applied);
      const seen = commentLines((line) => {
        const g = parseGtidLine(line);
        if (!g) return;
        applied.push(g.gtid);
        lastTime = g.time;
      });
      await pipeProcesses(replayCommand(step, plain, position), client, seen, opts.signal).catch((err: Error) => {
        throw new Error(`replaying ${step.file.file}: ${err.message}`);
      });
      const want = mustReach(step);
      const reached = reachedState(opts.backupGtid, applied);
      if (want && !gtidReached(parseGtidPosition(reached), parseGtidPosition(want)))
        throw new Error(
          `replaying ${step.file.file}: it holds transactions up to ${want} before the point, but the replay reached only ${reached || 'nothing'} (${applied.length} transaction(s) applied from ${position || 'the start'}): the restored data would miss them`,
        );
    } finally {
      fs.rmSync(plain, { force: true });
    }
  }
  return {
    gtid: reachedState(opts.backupGtid, applied),
    transactions: applied.length,
    ...(lastTime !== undefined ? { lastTime } : {}),
    files: opts.steps.length,
    bytes,
  };
}

/**
 * The index with every plain (live) file described to its last whole event: the archiver
 * records what it scanned at its last tick, and a restore wants the very last event.
 */
export function withLiveTails(index: ArchiveIndex, archiveDir: string): ArchiveIndex {
  let out = index;
  for (const f of index.files) {
    if (f.encrypted) continue;
    let data: Buffer;
    try {
      data = fs.readFileSync(path.join(archiveDir, f.file));
    } catch {
      continue;
    }
    const scan = scanBinlog(data);
    if (scan.offset <= f.size) continue;
    out = upsertFile(out, {
      ...f,
      size: scan.offset,
      ...(scan.firstGtid !== undefined
        ? { firstGtid: scan.firstGtid, lastGtid: scan.lastGtid, firstTime: scan.firstTime, lastTime: scan.lastTime }
        : {}),
    });
  }
  return out;
}
