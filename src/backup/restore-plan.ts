/**
 * What a point-in-time restore would use, decided before anything is touched (issue 10):
 * the newest verified backup chain at or before the target, and the archived binlogs
 * that carry the database from that backup's GTID to the target. Every reason to refuse
 * is found here, with a message that says what to do: no key, a target before the oldest
 * backup, a GTID the archive never saw, a hole in the archive between the backup and the
 * target. `tandem restore` (to come) acts only on a plan this returns.
 */
import { gtidReached, parseGtidPosition } from '../db/gtid.ts';
import {
  advance,
  archivePosition,
  type ArchivedFile,
  type ArchiveIndex,
  coveredBy,
  filesUpTo,
  formatPosition,
} from './archive-index.ts';
import type { BackupManifest } from './manifest.ts';

/** `time`: unix seconds (the last transaction committed at or before it is kept); `gtid`: inclusive. */
export type RestoreTarget = { readonly time: number } | { readonly gtid: string };

export interface RestorePlan {
  /** The backup restored: the full one first, the chosen one last. */
  readonly chain: readonly BackupManifest[];
  /** Replay starts after this position (the chosen backup's GTID). */
  readonly startGtid: string;
  /** The archived files to replay, oldest first (each checked and decrypted before use). */
  readonly binlogs: readonly ArchivedFile[];
  /** Newer backups at or before the target that were passed over, and why. */
  readonly skipped: readonly { readonly id: string; readonly why: string }[];
}

/** A restore refused before anything was touched; the message says why and what to do. */
export class RestoreRefused extends Error {}

const endedAtS = (m: BackupManifest) => Date.parse(m.endedAt) / 1000;

/** Why `m` cannot be restored (undefined: it can): it and every backup of its chain must be verified. */
function unusable(m: BackupManifest, byId: ReadonlyMap<string, BackupManifest>): string | undefined {
  for (const id of m.chain) {
    const link = byId.get(id);
    if (!link) return `its chain lacks ${id}`;
    if (link.verification !== 'verified')
      return link.id === m.id
        ? `it is ${link.verification}${link.failure ? `: ${link.failure}` : ''}`
        : `${id} in its chain is ${link.verification}`;
  }
  return undefined;
}

/** True when the backup holds nothing past the target. */
function atOrBefore(m: BackupManifest, target: RestoreTarget): boolean {
  return 'time' in target
    ? endedAtS(m) <= target.time
    : gtidReached(parseGtidPosition(target.gtid), parseGtidPosition(m.gtid));
}

const describe = (target: RestoreTarget) =>
  'time' in target ? new Date(target.time * 1000).toISOString() : `GTID ${target.gtid}`;

export function planRestore(
  manifests: readonly BackupManifest[],
  index: ArchiveIndex,
  target: RestoreTarget,
  opts: { readonly keyPresent: boolean },
): RestorePlan {
  if (!opts.keyPresent)
    throw new RestoreRefused(
      'the backup key (backupKey in the stack secrets) is missing: no backup or archived binlog can be decrypted without it. Put back the copy you kept with your recovery secrets.',
    );
  if ('gtid' in target) checkGtidSeen(target.gtid, manifests, index);
  const byId = new Map(manifests.map((m) => [m.id, m]));
  const newestFirst = [...manifests].sort((a, b) => endedAtS(b) - endedAtS(a));
  const candidates = newestFirst.filter((m) => atOrBefore(m, target));
  const skipped: { id: string; why: string }[] = [];
  const chosen = candidates.find((m) => {
    const why = unusable(m, byId);
    if (why) skipped.push({ id: m.id, why });
    return why === undefined;
  });
  if (!chosen) {
    const oldest = newestFirst.filter((m) => unusable(m, byId) === undefined).at(-1);
    throw new RestoreRefused(
      oldest
        ? `no verified backup is at or before ${describe(target)}: the oldest one, ${oldest.id}, ended at ${oldest.endedAt} (GTID ${oldest.gtid}). Choose a later point.`
        : `no verified backup exists${skipped.length ? ` (${skipped.map((s) => `${s.id}: ${s.why}`).join('; ')})` : ''}: take one with \`tandem backup --full\`.`,
    );
  }
  const start = parseGtidPosition(chosen.gtid);
  // Files whose every transaction the backup already holds, and files without one, are not replayed.
  const binlogs = filesUpTo(index, target).filter(
    (f) => f.lastGtid !== undefined && !gtidReached(start, advance(new Map(), f.lastGtid)),
  );
  const hole = index.holes.find(
    (h) =>
      binlogs.some((f) => f.host === h.host && f.name === h.name) && gtidReached(advance(new Map(), h.have), start),
  );
  if (hole)
    throw new RestoreRefused(
      `the binlog archive has a gap after ${hole.have} (next it holds ${hole.next}, in ${hole.host}/${hole.name}) between backup ${chosen.id} and ${describe(target)}: a restore past it would miss transactions. Choose a point before the gap, or restore from a backup taken after it.`,
    );
  // The archive must go on from the backup: a first file that starts past it (an archive
  // begun later, or the new history after an in-place restore) misses what lies between.
  const first = binlogs[0];
  if (first?.gtidList && !coveredBy(first.gtidList, start))
    throw new RestoreRefused(
      `the binlog archive starts at ${first.gtidList} (${first.host}/${first.name}), after backup ${chosen.id} (GTID ${chosen.gtid || 'none'}): the transactions in between are in no archive. Restore from a backup taken after ${formatPosition(advance(new Map(), first.gtidList))}, or choose a point covered by the archive.`,
    );
  return { chain: chosen.chain.map((id) => byId.get(id)!), startGtid: chosen.gtid, binlogs, skipped };
}

/** A GTID target must be one the backups or the archive reached, in a domain they know. */
function checkGtidSeen(gtid: string, manifests: readonly BackupManifest[], index: ArchiveIndex): void {
  let seen = archivePosition(index);
  for (const m of manifests) seen = advance(seen, m.gtid);
  if (!gtidReached(seen, parseGtidPosition(gtid)))
    throw new RestoreRefused(
      `GTID ${gtid} is past everything the archive and the backups hold (they reach ${
        [...seen].map(([d, s]) => `${d}-…-${s}`).join(',') || 'nothing'
      }): it was never archived. \`tandem status\` shows the archive's last GTID.`,
    );
}
