/**
 * Verdicts for database failover, pure over a history: writes resume within a bound
 * after the primary's death or isolation; a stale replica is never promoted; a
 * switchover fails nothing and pauses writes briefly; repeated failovers each keep
 * their bound. Every one also holds the safety part (`safetyBreach`: nothing lost on
 * any node, nothing doubled, no read-your-writes violation, never two writable
 * databases, all nodes the same after the heal).
 */
import { isFailure } from './checker.ts';
import { promotionAfter, writeOutage } from './db-figures.ts';
import { notRejoined } from './divergence.ts';
import type { FaultEvent } from './history.ts';
import {
  baseFigures,
  DEFAULT_LATENCY_BOUND_MS,
  failedText,
  type PromiseInput,
  safetyBreach,
  type Verdict,
} from './verdicts.ts';

/** kill-db-primary: the engine and its supervisor die; the sentinel gives the key up at once. */
export const KILL_DB_PRIMARY_BOUND_MS = 1000;
/** kill-host db:primary, partition-db-primary: the leader key's lease must expire first. */
export const LEASE_FAILOVER_BOUND_MS = 2500;
/** switchover: the longest time writes may wait. */
export const SWITCHOVER_PAUSE_MS = 1000;
/** kill-db-replica-then-primary: the share of reads that may fail while the replica is frozen. */
export const STALE_REPLICA_READ_FAIL_SHARE = 0.05;

const first = (f: FaultEvent | undefined) => f?.hosts?.[0];

/**
 * Writes resume within `boundMs` of the fault (the outage as a user lives it, see
 * `writeOutage`), judged until the fault was healed (a partition) or the load ended.
 * `rejoin`: every other node must be a read-only, replicating replica after the heal.
 */
export function writesResumeVerdict(input: PromiseInput, boundMs: number, opts: { rejoin?: boolean } = {}): Verdict {
  const { check, history, faultAt, healAt } = input;
  const end = healAt ?? history.endedAt;
  const outage = writeOutage(history.ops, faultAt, end);
  const promoted = promotionAfter(history.dbSamples, faultAt, first(history.faults[0]));
  const figures = {
    ...baseFigures(check),
    latencyBoundMs: history.latencyBoundMs ?? DEFAULT_LATENCY_BOUND_MS,
    writeOutageMs: outage.outageMs,
    writeOutageBoundMs: boundMs,
    failedWrites: outage.failedWrites,
    firstFailedWriteMs: outage.firstFailureMs,
    longestWriteGapMs: outage.longestGapMs,
    promotedTo: promoted?.host ?? null,
    promotedAfterMs: promoted ? promoted.at - faultAt : null,
  };
  const broken = (reason: string): Verdict => ({ kept: false, reason, figures });
  const breach = safetyBreach(check);
  if (breach) return broken(breach);
  const stray = opts.rejoin ? notRejoined(history.final?.nodes ?? []) : [];
  if (stray.length > 0) return broken(`not back as a replica after the heal: ${stray.join(', ')}`);
  if (!history.ops.some((o) => o.kind === 'write' && o.start >= faultAt && o.start < end))
    return broken('no write ran after the fault');
  if (outage.outageMs === null)
    return broken(
      `writes did not resume ${healAt ? 'while the fault lasted' : 'within the run'} (${end - faultAt} ms after the fault; ${outage.failedWrites} failed)`,
    );
  if (outage.outageMs > boundMs)
    return broken(`writes resumed ${outage.outageMs} ms after the fault (promise: ${boundMs} ms)`);
  return {
    kept: true,
    reason: `writes resumed ${outage.outageMs} ms after the fault${promoted ? ` (${promoted.host} writable after ${promoted.at - faultAt} ms)` : ''}; ${outage.failedWrites} write(s) failed, none lost`,
    figures,
  };
}

/**
 * Several failovers in a row (flap): each fault must hit the node that was the primary
 * then (the previous round's promoted node), another node must be promoted, and writes
 * must resume within `boundMs` of each fault, before the next one. A write is judged in
 * the round it ended in: one cut by the next fault counts there.
 */
export function flapVerdict(input: PromiseInput, boundMs: number, rounds: number): Verdict {
  const { check, history } = input;
  const faults = [...history.faults].sort((a, b) => a.at - b.at);
  const per = faults.map((f, i) => {
    const to = faults[i + 1]?.at ?? history.endedAt;
    // A write still running at the next fault is that fault's to judge (its outage counts it).
    const ended = history.ops.filter((o) => o.end < to);
    return {
      fault: f,
      outage: writeOutage(ended, f.at, to),
      promoted: promotionAfter(history.dbSamples, f.at, first(f), to),
    };
  });
  const outages = per.map((r) => r.outage.outageMs);
  const figures = {
    ...baseFigures(check),
    failovers: per.filter((r) => r.promoted).length,
    rounds: faults.length,
    writeOutagesMs: outages.map((o) => o ?? 'never').join(','),
    maxWriteOutageMs: outages.some((o) => o === null) ? null : Math.max(0, ...(outages as number[])),
    writeOutageBoundMs: boundMs,
    primaries: [first(faults[0]), ...per.map((r) => r.promoted?.host)].map((h) => h ?? '?').join('→'),
  };
  const broken = (reason: string): Verdict => ({ kept: false, reason, figures });
  const breach = safetyBreach(check);
  if (breach) return broken(breach);
  const stray = notRejoined(history.final?.nodes ?? []);
  if (stray.length > 0) return broken(`not back as a replica after the heal: ${stray.join(', ')}`);
  if (faults.length < rounds) return broken(`only ${faults.length} of ${rounds} failovers ran`);
  for (const [i, r] of per.entries()) {
    const n = `failover ${i + 1}`;
    const previous = per[i - 1]?.promoted?.host;
    if (previous && first(r.fault) !== previous)
      return broken(`${n} hit ${first(r.fault) ?? '?'}, but ${previous} was the primary then`);
    if (!r.promoted) return broken(`${n}: no other database became writable after ${first(r.fault) ?? 'the fault'}`);
    if (r.outage.outageMs === null) return broken(`${n}: writes did not resume before the next fault`);
    if (r.outage.outageMs > boundMs)
      return broken(`${n}: writes resumed ${r.outage.outageMs} ms after the fault (promise: ${boundMs} ms)`);
  }
  return {
    kept: true,
    reason: `${faults.length} failovers (${figures.primaries}), writes back within ${figures.maxWriteOutageMs} ms each; nothing lost, no divergence`,
    figures,
  };
}

/**
 * kill-db-replica-then-primary: the replica is frozen while the primary writes alone,
 * then the primary dies as the replica returns. The replica misses acknowledged writes,
 * so it must not be promoted: writes stop (the report says why), nothing acknowledged
 * is lost, reads keep working (at most STALE_REPLICA_READ_FAIL_SHARE of them fail).
 */
export function noStalePromotionVerdict(input: PromiseInput): Verdict {
  const { check, history } = input;
  const [replicaFault, primaryFault] = [...history.faults].sort((a, b) => a.at - b.at);
  const stale = first(replicaFault);
  const primary = first(primaryFault);
  const diedAt = primaryFault?.at ?? history.endedAt;
  const promoted = primaryFault ? promotionAfter(history.dbSamples, diedAt, primary) : undefined;
  // Acknowledged while the replica could not take them: held by the primary alone.
  const onlyOnPrimary = history.ops.filter(
    (o) => o.kind === 'write' && !isFailure(o) && o.end >= (replicaFault?.at ?? 0) && o.end < diedAt,
  ).length;
  const reads = history.ops.filter(
    (o) => (o.kind === 'page' || o.kind === 'api') && o.start >= (replicaFault?.at ?? 0),
  );
  const failedReads = reads.filter(isFailure).length;
  const readsOkAfterDeath = reads.filter((o) => o.start >= diedAt && !isFailure(o)).length;
  const readBound = Math.ceil(reads.length * STALE_REPLICA_READ_FAIL_SHARE);
  const stopped = history.ops.find((o) => o.kind === 'write' && isFailure(o) && o.end >= diedAt);
  // The stack's own word, not the checker's inference: the stale replica's sentinel says why.
  const why = history.sentinelNotes?.find((n) => n.host === stale)?.notPromoted;
  const figures = {
    ...baseFigures(check),
    staleReplica: stale ?? null,
    writesOnlyOnPrimary: onlyOnPrimary,
    promotedTo: promoted?.host ?? null,
    failedReadsSinceReplicaFault: failedReads,
    failedReadsBound: readBound,
    readsOkAfterPrimaryDied: readsOkAfterDeath,
    writesStoppedAfterMs: stopped ? Math.max(0, stopped.start - diedAt) : null,
    notPromotedBecause: why ?? null,
  };
  const broken = (reason: string): Verdict => ({ kept: false, reason, figures });
  const breach = safetyBreach(check);
  if (breach) return broken(breach);
  if (!replicaFault || !primaryFault) return broken('the replica’s fault and the primary’s death did not both happen');
  if (promoted)
    return broken(
      `${promoted.host} was promoted ${promoted.at - diedAt} ms after ${primary ?? 'the primary'} died, though it had missed ${onlyOnPrimary} acknowledged write(s)`,
    );
  if (onlyOnPrimary === 0)
    return broken('no write was acknowledged while the replica was out: the replica was not stale, nothing was tested');
  if (readsOkAfterDeath === 0) return broken(`no read succeeded after ${primary ?? 'the primary'} died`);
  if (failedReads > readBound)
    return broken(`${failedReads} of ${reads.length} reads failed (bound ${readBound}): reads did not keep working`);
  if (!why) return broken(`${stale ?? 'the replica'}’s sentinel did not say why it was not promoted`);
  return {
    kept: true,
    reason: `writes stopped when ${primary ?? 'the primary'} died and were not failed over: ${stale ?? 'the replica'} had missed ${onlyOnPrimary} acknowledged write(s) while it was out, so promoting it would have lost them (a person may: tandem failover --force); its sentinel: “${why}”; ${failedReads} read(s) failed, none lost`,
    figures,
  };
}

/** switchover-under-load: 0 failed requests, writes paused for at most `pauseBoundMs`, another node primary. */
export function switchoverVerdict(input: PromiseInput, pauseBoundMs: number): Verdict {
  const { check, history, faultAt } = input;
  const boundMs = history.latencyBoundMs ?? DEFAULT_LATENCY_BOUND_MS;
  const action = history.faults.find((f) => f.kind === 'switchover');
  const pause = writeOutage(history.ops, faultAt, history.endedAt);
  const promoted = promotionAfter(history.dbSamples, faultAt, first(action));
  const figures = {
    ...baseFigures(check),
    latencyBoundMs: boundMs,
    writePauseMs: pause.outageMs,
    writePauseBoundMs: pauseBoundMs,
    switchedFrom: first(action) ?? null,
    promotedTo: promoted?.host ?? null,
    promotedAfterMs: promoted ? promoted.at - faultAt : null,
  };
  const broken = (reason: string): Verdict => ({ kept: false, reason, figures });
  const breach = safetyBreach(check);
  if (breach) return broken(breach);
  if (!action) return broken('no switchover ran');
  if (action.detail?.startsWith('switchover failed')) return broken(action.detail);
  if (!promoted) return broken(`no other database became writable after the switchover from ${first(action) ?? '?'}`);
  if (check.failed > 0) return broken(failedText(check, boundMs));
  if (pause.outageMs === null) return broken('no write was acknowledged after the switchover');
  if (pause.outageMs > pauseBoundMs)
    return broken(`writes paused for ${pause.outageMs} ms (promise: ${pauseBoundMs} ms)`);
  return {
    kept: true,
    reason: `switched over to ${promoted.host}: writes paused for ${pause.outageMs} ms; 0 of ${check.ops} requests failed`,
    figures,
  };
}
