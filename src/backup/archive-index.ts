/**
 * The binlog archive's index (`<archiveDir>/index.json`), and the pure decisions made
 * over it: where to start streaming from a primary, and whether the GTID sequence has a
 * hole. The archive keeps one folder per database host it followed; each file is named
 * as on that host, plain while it is being appended to and `<name>.enc` once closed.
 *
 * One GTID domain's sequence numbers only grow (`gtid_strict_mode`), across a failover
 * too: the new primary logs the replicated transactions (`log_slave_updates`) under
 * their original GTIDs. So the archive's position is, per domain, the highest sequence
 * number it holds, and a primary's file covers "what comes next" when the GTID state at
 * its start (its Gtid_list event) is at or before that position.
 */
import { parseGtidPosition } from '../db/gtid.ts';

export const ARCHIVE_INDEX_VERSION = 1;

/** One archived binlog file. */
export interface ArchivedFile {
  /** The database host it was streamed from. */
  readonly host: string;
  /**
   * Its name in the archive: the server's binlog name (`binlog.000003`), prefixed
   * `s<startPos>-` for a segment that starts after a sealed one.
   */
  readonly name: string;
  /** The server's binlog it is (a part of). */
  readonly binlog: string;
  /** The server position of its first transaction (4: the whole file). */
  readonly startPos: number;
  /** Relative to the archive folder: `<host>/<name>` while plain, `<host>/<name>.enc` once encrypted. */
  readonly file: string;
  readonly encrypted: boolean;
  /** sha256 (hex) of the encrypted file: a restore checks it before decrypting. */
  readonly sha256?: string;
  /** Plaintext bytes (whole events). */
  readonly size: number;
  /** GTID state at the file's start (its Gtid_list event); '' for none. */
  readonly gtidList?: string;
  readonly firstGtid?: string;
  readonly lastGtid?: string;
  /** Commit times (unix seconds) of its first and last transactions. */
  readonly firstTime?: number;
  readonly lastTime?: number;
  /** The server moved on to its next file (a Rotate event ends this one). */
  readonly rotated: boolean;
}

/** A gap in the archive's GTID sequence: transactions after `have` up to `next` are missing. */
export interface ArchiveHole {
  readonly at: string;
  readonly host: string;
  readonly name: string;
  /** The archive's position before the gap. */
  readonly have: string;
  /** The first GTID (or file start state) seen after it. */
  readonly next: string;
}

/**
 * A transaction the archive got from an old primary that the new one does not have: the
 * new primary numbered its own transaction `gtid` with a sequence number the archive
 * already held under another server id (the old primary binlogged it, and the stream
 * sent it, but no replica received it before the failover: it was never acknowledged).
 * A replay must follow the new primary's history from here: skip the old host's
 * transactions from that sequence number on.
 */
export interface ArchiveDivergence {
  readonly at: string;
  readonly host: string;
  readonly name: string;
  /** The new primary's transaction at a sequence number the archive already held. */
  readonly gtid: string;
}

export interface ArchiveIndex {
  readonly version: number;
  /** In the order they were first archived. */
  readonly files: readonly ArchivedFile[];
  readonly holes: readonly ArchiveHole[];
  /** Absent: none seen. */
  readonly divergences?: readonly ArchiveDivergence[];
}

export const EMPTY_INDEX: ArchiveIndex = { version: ARCHIVE_INDEX_VERSION, files: [], holes: [] };

/** Highest sequence number per domain. */
export type Position = ReadonlyMap<number, bigint>;

/** `0-<seq>` per domain (the server id does not order GTIDs; 0 stands for "any"). */
export function formatPosition(pos: Position): string {
  return [...pos.entries()]
    .sort(([a], [b]) => a - b)
    .map(([domain, seq]) => `${domain}-0-${seq}`)
    .join(',');
}

/** The position after adding every GTID of `text` (a position or a list). */
export function advance(pos: Position, text: string | undefined): Map<number, bigint> {
  const out = new Map(pos);
  if (!text) return out;
  for (const gtid of text.split(',')) {
    for (const [domain, seq] of parseGtidPosition(gtid)) {
      if ((out.get(domain) ?? -1n) < seq) out.set(domain, seq);
    }
  }
  return out;
}

/** What the archive holds: the highest GTID per domain over every file's start state and transactions. */
export function archivePosition(index: ArchiveIndex): Map<number, bigint> {
  let pos = new Map<number, bigint>();
  for (const f of index.files) pos = advance(advance(pos, f.gtidList), f.lastGtid);
  return pos;
}

/** True when every domain of `state` is at or before `pos`. */
export function coveredBy(state: string, pos: Position): boolean {
  for (const [domain, seq] of advance(new Map(), state)) {
    const have = pos.get(domain);
    if (have === undefined || have < seq) return false;
  }
  return true;
}

/** The index with `entry` in place of the file of the same host and name (or appended). */
export function upsertFile(index: ArchiveIndex, entry: ArchivedFile): ArchiveIndex {
  const at = index.files.findIndex((f) => f.host === entry.host && f.name === entry.name);
  const files = [...index.files];
  if (at < 0) files.push(entry);
  else files[at] = entry;
  return { ...index, files };
}

/** A primary's binlog file as SHOW BINARY LOGS and its Gtid_list event describe it. */
export interface ServerFile {
  readonly name: string;
  /** The GTID state at its start ('' for none). */
  readonly gtidList: string;
}

export interface StartChoice {
  /** The server's binlog to stream from. */
  readonly name: string;
  /** The position in it (4: its start). */
  readonly startPos: number;
  /** Why this file. */
  readonly reason: string;
  /** Set when no file on the host continues the archive: the GTIDs in between are lost to it. */
  readonly hole?: { readonly have: string; readonly next: string };
}

/**
 * Where to start streaming `host`'s binlog (`files` in the server's order). Pure.
 * - The archive's last file came from this host and the host still has it: that file,
 *   fetched again whole (it may have grown since).
 * - Otherwise the last file whose start state the archive already covers: it holds the
 *   first transaction the archive lacks (earlier ones in it are kept twice, harmlessly).
 * - An empty archive starts at the host's oldest file.
 */
export function pickStartFile(index: ArchiveIndex, host: string, files: readonly ServerFile[]): StartChoice {
  if (files.length === 0) throw new Error(`${host} lists no binary logs (is log_bin on?)`);
  const last = index.files.at(-1);
  if (!last) return { name: files[0]!.name, startPos: 4, reason: 'the archive is empty: from the oldest binlog' };
  if (last.host === host && files.some((f) => f.name === last.binlog))
    return {
      name: last.binlog,
      startPos: last.startPos,
      reason: `resuming ${host}'s ${last.binlog} from ${last.startPos}, fetched again`,
    };
  const pos = archivePosition(index);
  const covered = files.filter((f) => coveredBy(f.gtidList, pos));
  const pick = covered.at(-1);
  if (pick)
    return {
      name: pick.name,
      startPos: 4,
      reason: `${pick.name} starts at [${pick.gtidList}], within the archive's ${formatPosition(pos)}`,
    };
  return {
    name: files[0]!.name,
    startPos: 4,
    reason: `no binlog of ${host} starts within the archive's ${formatPosition(pos)}`,
    hole: { have: formatPosition(pos), next: files[0]!.gtidList },
  };
}

/**
 * Checks one GTID against the position so far: a sequence number more than one past the
 * domain's last is a hole (strict mode numbers one domain's transactions 1, 2, 3...).
 * Returns the new position and the hole, if any.
 */
export function checkNext(
  pos: Position,
  gtid: string,
): { pos: Map<number, bigint>; hole?: { have: string; next: string } } {
  const next = advance(pos, gtid);
  for (const [domain, seq] of parseGtidPosition(gtid)) {
    const have = pos.get(domain);
    if (have !== undefined && seq > have + 1n) return { pos: next, hole: { have: formatPosition(pos), next: gtid } };
  }
  return { pos: next };
}

/** `domain-seq`: the key under which the archive's recent GTIDs are kept (the server id is what may differ). */
export function seqKey(gtid: string): string {
  const [domain, , seq] = gtid.split('-');
  return `${domain}-${seq}`;
}

/**
 * A GTID whose domain and sequence number the archive holds under another server id:
 * the new primary's own history diverging from the old one's (`recent`: the archive's
 * last GTIDs by `seqKey`). A repeat of a held GTID, or a new one, is not.
 */
export function isDivergent(recent: ReadonlyMap<string, string>, gtid: string): boolean {
  const held = recent.get(seqKey(gtid));
  return held !== undefined && held !== gtid;
}

/** Checks a file's start state: the archive must already hold everything before it. */
export function checkStart(pos: Position, gtidList: string): { have: string; next: string } | undefined {
  if (pos.size === 0 || coveredBy(gtidList, pos)) return undefined;
  return { have: formatPosition(pos), next: gtidList };
}

/** The archived files a replay to `target` needs, oldest first, without files wholly after it. */
export function filesUpTo(index: ArchiveIndex, target: { gtid: string } | { time: number }): ArchivedFile[] {
  const before = (f: ArchivedFile) =>
    'gtid' in target
      ? f.gtidList === undefined || f.gtidList === '' || !coveredBy(target.gtid, advance(new Map(), f.gtidList))
      : f.firstTime === undefined || f.firstTime <= target.time;
  return index.files.filter(before);
}
