/**
 * The sentinel's decisions, as pure functions of what it observed: whom to promote,
 * when to fence, when to drop or record the sync replica, whether a returning database
 * may replicate. The loop (sentinel.ts) observes and acts; nothing here has effects.
 */
import { parseGtidPosition } from '../db/gtid.ts';
import type { MemberValue, SyncValue } from './keys.ts';

export type Verdict = { readonly ok: true; readonly reason: string } | { readonly ok: false; readonly reason: string };

/**
 * May this host take the leader key, now that nobody holds it? Only the replica recorded
 * as holding every acknowledged write (sync.eligible), or the last primary itself (it
 * wrote them), or the bootstrap primary when no leader was ever recorded.
 */
export function promotionVerdict(input: {
  readonly host: string;
  readonly bootstrapPrimary: string;
  readonly sync: SyncValue | null;
  readonly dbUp: boolean;
  readonly diverged: boolean;
}): Verdict {
  const { host, sync } = input;
  if (!input.dbUp) return { ok: false, reason: 'the local database is down' };
  if (input.diverged) return { ok: false, reason: 'the local database has diverged from the last primary' };
  if (sync === null) {
    return host === input.bootstrapPrimary
      ? { ok: true, reason: 'bootstrap: no leader was ever recorded' }
      : { ok: false, reason: `no leader was ever recorded; ${input.bootstrapPrimary} bootstraps` };
  }
  if (sync.eligible === host) return { ok: true, reason: `${host} is the sync replica of term ${sync.term}` };
  if (sync.primary === host) return { ok: true, reason: `${host} was the primary of term ${sync.term}` };
  return {
    ok: false,
    reason:
      sync.eligible === null
        ? `no replica is known to hold every acknowledged write of term ${sync.term}; only ${sync.primary} may take over`
        : `${sync.eligible} is the sync replica of term ${sync.term}, not ${host}`,
  };
}

/**
 * True when the leader must fence its database: its last successful renewal was sent
 * more than `fraction` of the TTL ago, so the lease may expire for the others soon.
 * Measured from when the renewal was *sent*: etcd restarted the TTL no earlier.
 */
export function fenceDue(now: number, lastRenewSentAt: number, ttlMs: number, fraction = 0.6): boolean {
  return now - lastRenewSentAt > ttlMs * fraction;
}

/**
 * Whether a database that is not the leader may replicate from it: its GTID history must
 * be a prefix of the leader's. Each last GTID of the local binlog (per domain) must be in
 * the leader's binlog state, which keeps the last GTID per (domain, server): the same
 * server's sequence at or past ours means the leader holds our transaction (strict mode
 * keeps sequences increasing).
 */
export function rejoinVerdict(localBinlogPos: string, leaderBinlogState: string): Verdict {
  const leader = lastByDomainServer(leaderBinlogState);
  for (const gtid of splitGtids(localBinlogPos)) {
    const [domain, server, seq] = gtid.split('-');
    const have = leader.get(`${domain}-${server}`);
    if (have === undefined || have < BigInt(seq!)) {
      return {
        ok: false,
        reason: `local GTID ${gtid} is not in the leader's binlog (${leaderBinlogState || 'empty'})`,
      };
    }
  }
  return { ok: true, reason: 'the local history is a prefix of the leader’s' };
}

/** The GTIDs of a position or binlog state, one per entry; throws on a malformed one. */
export function splitGtids(text: string): string[] {
  const value = text.replace(/\s+/g, '');
  if (value === '') return [];
  parseGtidPosition(value); // throws on a malformed position
  return value.split(',');
}

function lastByDomainServer(state: string): Map<string, bigint> {
  const last = new Map<string, bigint>();
  for (const gtid of splitGtids(state)) {
    const [domain, server, seq] = gtid.split('-');
    const key = `${domain}-${server}`;
    const n = BigInt(seq!);
    if ((last.get(key) ?? -1n) < n) last.set(key, n);
  }
  return last;
}

/** True when position `have` holds everything in `want` (per domain). */
export function reached(have: string, want: string): boolean {
  const h = parseGtidPosition(have);
  for (const [domain, seq] of parseGtidPosition(want)) {
    if ((h.get(domain) ?? -1n) < seq) return false;
  }
  return true;
}

/**
 * Whether a stopped SQL thread is the backup source's pause (src/backup/source.ts, issue
 * 10): its marker file is there and the thread stopped without an error. Such a replica
 * stays the sync replica: its IO thread still receives and acknowledges every commit, and
 * a promotion starts the SQL thread again to apply the relay log. A thread stopped by a
 * person (no marker) or on an error is not a pause: an error would stop the relay log
 * from being applied at all.
 */
export function pausedForBackup(
  slave: { readonly sqlRunning: boolean; readonly sqlErrno: number },
  markerPresent: boolean,
): boolean {
  return markerPresent && !slave.sqlRunning && slave.sqlErrno === 0;
}

/**
 * The replica that can become the sync replica: it replicates from this primary, its IO
 * thread runs and its SQL thread too, or is paused for a backup. Whether it has received
 * everything is the primary's to say: MariaDB turns `Rpl_semi_sync_master_status` ON
 * only once the replica's acknowledgements reach the binlog's end, and syncStep records a
 * replica only then (a published position is a tick old, and under load never equals the
 * primary's).
 */
export function syncCandidate(
  members: readonly MemberValue[],
  self: { readonly host: string; readonly address: string },
): string | null {
  for (const m of members) {
    if (m.host === self.host || m.role !== 'replica') continue;
    if (m.masterHost !== self.address || !m.ioRunning || !(m.sqlRunning || m.pausedForBackup === true)) continue;
    return m.host;
  }
  return null;
}

/** The primary's live semi-sync state (`SHOW STATUS` and the switch). */
export interface SemiSyncState {
  readonly enabled: boolean;
  /** `Rpl_semi_sync_master_status`: commits do wait for an acknowledgement. */
  readonly on: boolean;
  readonly clients: number;
  readonly waitSessions: number;
}

export type SyncStep =
  | { readonly kind: 'none' }
  /** Write `eligible: null` first; only then turn semi-sync off. */
  | { readonly kind: 'drop'; readonly reason: string }
  /** `eligible` is already null: commits may go unacknowledged. */
  | { readonly kind: 'disable'; readonly reason: string }
  | { readonly kind: 'enable'; readonly candidate: string }
  | { readonly kind: 'record'; readonly eligible: string };

/**
 * The primary's next step on semi-sync. MariaDB never falls back to async by itself
 * (infinite timeout, wait with no replica): the sentinel does, after recording in etcd
 * that no replica is eligible. A replica is recorded eligible only once the primary
 * reports semi-sync ON with a client, and the replica has received what was committed
 * before.
 */
export function syncStep(input: {
  readonly sync: SyncValue;
  readonly semi: SemiSyncState;
  readonly candidate: string | null;
  /**
   * The candidate has received everything the primary committed up to the moment
   * semi-sync came on (commits before it went unacknowledged, and must not be lost either).
   */
  readonly candidateCaughtUp: boolean;
  /** The recorded sync replica still replicates from this primary (its sentinel says so). */
  readonly eligibleReplicating: boolean;
  /** How long commits have been waiting for an acknowledgement (0 when none wait). */
  readonly waitingMs: number;
  /** How long semi-sync has been enabled without a client acknowledging (0 when it has one or is off). */
  readonly unackedMs: number;
  readonly syncWaitMs: number;
}): SyncStep {
  const { sync, semi } = input;
  if (sync.eligible !== null) {
    if (!input.eligibleReplicating) return { kind: 'drop', reason: `${sync.eligible} no longer replicates` };
    if (!semi.enabled) return { kind: 'drop', reason: 'semi-sync is off on the primary' };
    if (semi.clients === 0) return { kind: 'drop', reason: 'no semi-sync replica is connected' };
    if (input.waitingMs > input.syncWaitMs) {
      return { kind: 'drop', reason: `commits waited ${input.waitingMs} ms for an acknowledgement` };
    }
    return { kind: 'none' };
  }
  if (semi.enabled) {
    if (semi.on && semi.clients >= 1 && input.candidate !== null && input.candidateCaughtUp) {
      return { kind: 'record', eligible: input.candidate };
    }
    if (input.candidate === null) return { kind: 'disable', reason: 'no replica is caught up' };
    if (input.unackedMs > input.syncWaitMs || input.waitingMs > input.syncWaitMs) {
      return { kind: 'disable', reason: `no acknowledgement within ${input.syncWaitMs} ms of enabling semi-sync` };
    }
    return { kind: 'none' };
  }
  return input.candidate !== null ? { kind: 'enable', candidate: input.candidate } : { kind: 'none' };
}
