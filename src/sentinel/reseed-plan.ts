/**
 * The reseed of a diverged database, as pure decisions and command lines: when a
 * divergence is firm enough to throw the local data away, what the backup's binlog
 * info says, which binlog state the restored instance takes, and the argv of each
 * MariaDB tool. reseed.ts runs them.
 */
import path from 'node:path';
import { parseGtidPosition } from '../db/gtid.ts';
import { splitGtids } from './decide.ts';

/** The port a diverged database listens on for its backup stream (Galera's SST port); open only between db hosts. */
export const RESEED_PORT = 4444;

const BACKUP = '/usr/bin/mariadb-backup';
const MBSTREAM = '/usr/bin/mbstream';

/** What the sentinel records about a reseed: in its state file (`tandem status`) and beside the kept binlogs. */
export interface ReseedRecord {
  readonly id: string;
  readonly state: 'requested' | 'receiving' | 'preparing' | 'restarting' | 'done' | 'failed';
  /** The host the backup streams from (the primary). */
  readonly from: string;
  /** Why the local history was thrown away (the rejoin verdict). */
  readonly reason: string;
  readonly startedAt: number;
  readonly endedAt?: number;
  readonly ms?: number;
  readonly bytes?: number;
  /** The backup's GTID position: where replication resumes. */
  readonly gtid?: string;
  /** Folder holding the diverged binlogs, for a person. */
  readonly keptAside?: string;
  readonly error?: string;
}

/**
 * Whether a divergence seen since `firstSeenAt` should now be reseeded. A verdict can be
 * wrong for a moment (the leader's member key is a tick old), so the divergence must
 * have lasted `settleMs` and the leader's key must have been rewritten since it was first
 * seen. After a failed reseed, the next waits `retryMs`. Wall-clock ms throughout.
 */
export function reseedDue(input: {
  readonly firstSeenAt: number | null;
  readonly leaderKeyAt: number;
  readonly now: number;
  readonly settleMs: number;
  readonly lastFailureAt: number | null;
  readonly retryMs: number;
}): boolean {
  const { firstSeenAt, now } = input;
  if (firstSeenAt === null) return false;
  if (now - firstSeenAt < input.settleMs) return false;
  if (input.leaderKeyAt <= firstSeenAt) return false;
  return input.lastFailureAt === null || now - input.lastFailureAt >= input.retryMs;
}

/** `mariadb_backup_binlog_info` (older name `xtrabackup_binlog_info`): the backup's binlog point. */
export interface BinlogInfo {
  readonly file: string;
  readonly position: number;
  /** The GTID position at the backup's point ('' when the donor had written nothing). */
  readonly gtid: string;
}

/** The names mariadb-backup gives the file, newest first. */
export const BINLOG_INFO_FILES = ['mariadb_backup_binlog_info', 'xtrabackup_binlog_info'] as const;

/** Parses `<file>\t<position>\t<gtid,…>`; throws naming what is wrong. */
export function parseBinlogInfo(text: string): BinlogInfo {
  const line = text.trim();
  const [file, position, ...rest] = line.split('\t');
  const pos = Number(position);
  if (!file || position === undefined || !Number.isInteger(pos) || pos < 0) {
    throw new Error(`binlog info: expected "<file>\\t<position>\\t<gtid>", got ${JSON.stringify(line.slice(0, 200))}`);
  }
  const gtid = rest.join('').replace(/\s+/g, '');
  if (gtid !== '') parseGtidPosition(gtid);
  return { file, position: pos, gtid };
}

/**
 * The `gtid_binlog_state` the restored instance takes before it replicates: the
 * leader's entries at or before the backup's point in their domain, and the backup's own
 * GTIDs. A backup holds no binlog, and without this state the instance's binlog would
 * start empty: a later prefix check against it (were it promoted) would find the other
 * servers' last GTIDs missing. Sequence numbers increase within a domain (strict mode),
 * so an entry at or below the backup's sequence was binlogged before it.
 */
export function reseededBinlogState(leaderBinlogState: string, backupGtid: string): string {
  const backup = splitGtids(backupGtid);
  const upTo = parseGtidPosition(backup.join(','));
  const out = new Map<string, string>();
  for (const gtid of splitGtids(leaderBinlogState)) {
    const [domain, server, seq] = gtid.split('-') as [string, string, string];
    const limit = upTo.get(Number(domain));
    if (limit === undefined || BigInt(seq) > limit) continue;
    out.set(`${domain}-${server}`, gtid);
  }
  for (const gtid of backup) {
    const [domain, server] = gtid.split('-') as [string, string];
    out.set(`${domain}-${server}`, gtid);
  }
  return [...out.values()].join(',');
}

/** The binlog files of a datadir, their index and GTID state file, by the server's `log_bin_basename`. */
export function isBinlogFile(name: string, basename: string): boolean {
  const base = path.basename(basename);
  return (
    name === `${base}.index` || name === `${base}.state` || new RegExp(`^${escapeRegExp(base)}\\.\\d+$`).test(name)
  );
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `<keepDir>/<UTC time>-<id>`: one folder per reseed, sortable by time. */
export function keptAsideDir(keepDir: string, at: number, id: string): string {
  return path.join(keepDir, `${new Date(at).toISOString().replace(/[:.]/g, '-')}-${id}`);
}

/**
 * The donor's backup, streamed to stdout. The defaults file is the server's own option
 * file plus a `[mariadb-backup]` group with the backup user and its password (a 0600
 * copy the donor writes and removes): the password never appears on a command line.
 */
export function backupCommand(defaultsFile: string, targetDir: string): string[] {
  return [BACKUP, `--defaults-file=${defaultsFile}`, '--backup', '--stream=mbstream', `--target-dir=${targetDir}`];
}

/** Unpacks the stream on stdin into `dir`. */
export function extractCommand(dir: string): string[] {
  return [MBSTREAM, '-x', '-C', dir];
}

/**
 * Makes the received files a consistent datadir (applies the redo log copied beside
 * them). Only the backup's own `backup-my.cnf` counts: no option file is read.
 */
export function prepareCommand(dir: string): string[] {
  return [BACKUP, '--no-defaults', '--prepare', `--target-dir=${dir}`];
}

/** The donor's defaults file: the server's options, then the backup user's credentials. */
export function backupDefaults(serverOptions: string, user: string, password: string): string {
  if (/[\n\r]/.test(user) || /[\n\r]/.test(password)) throw new Error('backup credentials must be one line each');
  return `${serverOptions.trimEnd()}\n\n[mariadb-backup]\nuser = ${user}\npassword = ${password}\n`;
}
