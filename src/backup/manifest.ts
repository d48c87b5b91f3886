/**
 * What a stored backup is (issue 10), as pure data and decisions: its manifest, the
 * files mariadb-backup writes beside the data (`xtrabackup_checkpoints`, the binlog info
 * of reseed-plan.ts), which database a backup is taken from, which chain an incremental
 * builds on, and which full backups retention deletes. The backup agent (agent.ts) acts
 * on them; `tandem backups`, `status` and `restore` read the manifests.
 */
import path from 'node:path';

export type BackupKind = 'full' | 'incremental';

/** `pending`: stored, drill not finished; `verified`: the drill matched the source; `failed`: see `failure`. */
export type Verification = 'pending' | 'verified' | 'failed';

/** One table as the drill or the source counted it. */
export interface TableFigures {
  readonly rows: number;
  /** `CHECKSUM TABLE`'s value (null when the engine gave none). */
  readonly checksum: string | null;
}

/** LSNs of `xtrabackup_checkpoints`: an incremental copies the pages changed after its base's `toLsn`. */
export interface Checkpoints {
  readonly backupType: string;
  readonly fromLsn: string;
  readonly toLsn: string;
}

/**
 * `<plan.backup.dir>/<id>/manifest.json`, beside `FILE_NAME`: the only record of a
 * backup. A restore takes the verified full backup and its verified incrementals, in
 * `chain` order, and the archived binlogs from `gtid` on.
 */
export interface BackupManifest {
  readonly version: 1;
  /** `<UTC time>-<kind>`, sortable: e.g. `20261124T234500Z-full`. */
  readonly id: string;
  readonly kind: BackupKind;
  /** An incremental's base (the previous backup of its chain); absent for a full one. */
  readonly base?: string;
  /** Every backup a restore needs, the full one first, this one last. */
  readonly chain: readonly string[];
  readonly startedAt: string;
  readonly endedAt: string;
  /** The database host it was taken from, and its role then. */
  readonly source: { readonly host: string; readonly role: 'replica' | 'primary'; readonly why: string };
  /** The GTID position of the backup (mariadb_backup_binlog_info). */
  readonly gtid: string;
  readonly checkpoints: Checkpoints;
  /** Bytes of mariadb-backup's stream, and of the stored file (compressed, encrypted). */
  readonly streamBytes: number;
  readonly storedBytes: number;
  /** sha256 (hex) of the stored file: checked before any use. */
  readonly sha256: string;
  readonly verification: Verification;
  readonly failure?: string;
  /** The drill: when it ran, how long, what it compared. */
  readonly drill?: DrillRecord;
}

export interface DrillRecord {
  readonly at: string;
  readonly ms: number;
  /**
   * `at-gtid`: the source's tables were counted at the backup's GTID (a replica paused
   * for it) and every count and checksum must match; `tables-only`: a primary kept
   * committing, so only the table list is compared and every table must read whole.
   */
  readonly compared: 'at-gtid' | 'tables-only';
  readonly tables: Readonly<Record<string, TableFigures>>;
  /** The tables that differ, with both sides (empty when verified). */
  readonly mismatches: readonly string[];
}

/** The stored file of each backup: mbstream, zstd-compressed, then AES-256-GCM (crypt.ts). */
export const FILE_NAME = 'backup.mbstream.zst.enc';
export const MANIFEST_NAME = 'manifest.json';

export function backupId(at: Date, kind: BackupKind): string {
  return `${at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${kind}`;
}

export function backupFile(dir: string, id: string): string {
  return path.join(dir, id, FILE_NAME);
}

/** Parses `xtrabackup_checkpoints` (`key = value` lines); throws naming what is missing. */
export function parseCheckpoints(text: string): Checkpoints {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([a-z_]+)\s*=\s*(\S+)\s*$/.exec(line);
    if (m) values.set(m[1]!, m[2]!);
  }
  const need = (key: string) => {
    const v = values.get(key);
    if (v === undefined) throw new Error(`xtrabackup_checkpoints: no ${key} in ${JSON.stringify(text.slice(0, 200))}`);
    if (key !== 'backup_type' && !/^\d+$/.test(v))
      throw new Error(`xtrabackup_checkpoints: ${key} is not an LSN: ${v}`);
    return v;
  };
  return { backupType: need('backup_type'), fromLsn: need('from_lsn'), toLsn: need('to_lsn') };
}

/**
 * The backup's GTID from `xtrabackup_info` (`binlog_pos = filename '…', position '…',
 * GTID of the last change '0-2-36'`): `--extra-lsndir` gets this file and the
 * checkpoints, not the binlog info file. '' when the server had binlogged nothing.
 */
export function gtidOfBackupInfo(text: string): string {
  const line = text.split('\n').find((l) => /^\s*binlog_pos\s*=/.test(l));
  if (!line) return '';
  const m = /GTID of the last change '([^']*)'/.exec(line);
  return m ? m[1]!.replace(/\s+/g, '') : '';
}

/** What a backup source reports of its database (source.ts `GET /state`). */
export interface SourceState {
  readonly host: string;
  /** `@@read_only = 0`: the primary. */
  readonly writable: boolean;
  /** Replication as `SHOW SLAVE STATUS` gives it; null when the database replicates from nobody. */
  readonly replica: {
    readonly ioRunning: boolean;
    readonly sqlRunning: boolean;
    readonly lagS: number | null;
  } | null;
}

export type SourceChoice =
  { readonly host: string; readonly role: 'replica' | 'primary'; readonly why: string } | { readonly error: string };

/**
 * The database a backup is taken from: a healthy replica (both threads running, lag at
 * most `maxLagS`), the least lagging one; else the primary, saying why. `states` holds
 * what each reachable source answered, `unreachable` the others with their error.
 */
export function chooseSource(
  states: readonly SourceState[],
  unreachable: readonly { host: string; error: string }[],
  maxLagS: number,
): SourceChoice {
  const healthy = states
    .filter(
      (s) => !s.writable && s.replica?.ioRunning && s.replica.sqlRunning && (s.replica.lagS ?? Infinity) <= maxLagS,
    )
    .sort((a, b) => (a.replica!.lagS ?? 0) - (b.replica!.lagS ?? 0));
  if (healthy[0])
    return { host: healthy[0].host, role: 'replica', why: `replica, ${healthy[0].replica!.lagS} s behind` };
  const primaries = states.filter((s) => s.writable);
  const why = [
    ...states
      .filter((s) => !s.writable)
      .map((s) =>
        !s.replica
          ? `${s.host} replicates from nobody`
          : !s.replica.ioRunning || !s.replica.sqlRunning
            ? `${s.host}'s replication is stopped`
            : `${s.host} lags ${s.replica.lagS ?? 'unknown'} s (more than ${maxLagS} s)`,
      ),
    ...unreachable.map((u) => `${u.host}: ${u.error}`),
  ];
  const noReplica = why.length > 0 ? why.join('; ') : 'the stack has no replica';
  if (primaries.length === 1)
    return { host: primaries[0]!.host, role: 'primary', why: `no healthy replica (${noReplica}): loading the primary` };
  if (primaries.length > 1)
    return { error: `${primaries.map((p) => p.host).join(' and ')} are both writable: no backup while that lasts` };
  return { error: `no database to back up from: ${noReplica || 'no source answered'}` };
}

/**
 * The chain an incremental builds on: the newest full backup that is verified and whose
 * file passes its checksum (`intact`), then each verified, intact incremental on it in
 * turn. Null when there is no such full backup. Never a failed or corrupt backup.
 */
export function incrementalBase(
  manifests: readonly BackupManifest[],
  intact: (m: BackupManifest) => boolean,
): BackupManifest[] | null {
  const usable = (m: BackupManifest) => m.verification === 'verified' && intact(m);
  const sorted = [...manifests].sort((a, b) => a.id.localeCompare(b.id));
  const full = sorted.filter((m) => m.kind === 'full' && usable(m)).at(-1);
  if (!full) return null;
  const chain = [full];
  for (;;) {
    const last = chain.at(-1)!;
    const next = sorted.find((m) => m.kind === 'incremental' && m.base === last.id && usable(m));
    if (!next) return chain;
    chain.push(next);
  }
}

/**
 * The backups retention deletes: keep the newest `keepFull` verified full backups, each
 * with the incrementals on it, and everything newer than the oldest one kept (a full
 * backup still in its drill, and what failed since, stays for a person to see). Older
 * backups go only once `keepFull` newer full ones are verified.
 */
export function expiredBackups(manifests: readonly BackupManifest[], keepFull: number): string[] {
  const sorted = [...manifests].sort((a, b) => a.id.localeCompare(b.id));
  const verifiedFull = sorted.filter((m) => m.kind === 'full' && m.verification === 'verified');
  if (verifiedFull.length <= keepFull) return [];
  const oldestKept = verifiedFull[verifiedFull.length - keepFull]!.id;
  return sorted.filter((m) => m.id < oldestKept).map((m) => m.id);
}

/** Compares the drill's tables with the source's: the names of those that differ, with both sides. */
export function tableMismatches(
  source: Readonly<Record<string, TableFigures>>,
  restored: Readonly<Record<string, TableFigures>>,
  compared: DrillRecord['compared'],
): string[] {
  const names = [...new Set([...Object.keys(source), ...Object.keys(restored)])].sort();
  const out: string[] = [];
  for (const name of names) {
    const s = source[name];
    const r = restored[name];
    if (!s) out.push(`${name}: in the backup, not in the source`);
    else if (!r) out.push(`${name}: in the source, not in the backup`);
    else if (compared === 'at-gtid' && (s.rows !== r.rows || s.checksum !== r.checksum))
      out.push(`${name}: source ${s.rows} rows, checksum ${s.checksum}; backup ${r.rows} rows, checksum ${r.checksum}`);
  }
  return out;
}

/**
 * Which backup the schedule takes now, if any (the agent asks every minute): a full one
 * when no verified full backup is younger than `fullEveryS`, else an incremental; and
 * nothing while the last attempt (of any kind, failed ones too) is younger than
 * `incrementalEveryS`, so a failing backup is retried at that pace, not in a loop. With no
 * backup at all the agent's start counts as the last attempt: the first scheduled one
 * comes an incremental period after it (`tandem backup` takes one at once).
 */
export function scheduledKind(
  manifests: readonly BackupManifest[],
  now: number,
  agentStartedAt: number,
  fullEveryS: number,
  incrementalEveryS: number,
): BackupKind | null {
  const sorted = [...manifests].sort((a, b) => a.id.localeCompare(b.id));
  const lastAttempt = sorted.length > 0 ? Date.parse(sorted.at(-1)!.startedAt) : agentStartedAt;
  if (now - lastAttempt < Math.min(incrementalEveryS, fullEveryS) * 1000) return null;
  const full = sorted.filter((m) => m.kind === 'full' && m.verification === 'verified').at(-1);
  if (!full || now - Date.parse(full.startedAt) >= fullEveryS * 1000) return 'full';
  return 'incremental';
}
