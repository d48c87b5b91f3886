/**
 * Verdicts: pure functions that judge a run's history against a promise. A request
 * counts as failed unless its first attempt was answered within the scenario's latency
 * bound (see checker.ts); every verdict also holds the safety part (nothing lost or
 * doubled on any node, no read-your-writes violation, never two writable databases)
 * and refuses to call a promise kept over an empty list of requests.
 */
import type { Plan } from '../config/types.ts';
import {
  type CheckResult,
  failedSince,
  failureWindow,
  isFailure,
  markedDownAt,
  vipHolderAt,
  vipMovedAt,
} from './checker.ts';
import type { History } from './history.ts';

export interface PromiseInput {
  readonly check: CheckResult;
  readonly history: History;
  /** Epoch ms of the first fault. */
  readonly faultAt: number;
  /** Epoch ms when the first fault was healed during the load; undefined: only after it. */
  readonly healAt?: number;
  readonly plan: Plan;
}

export interface Verdict {
  readonly kept: boolean;
  /** One line: why kept or broken. */
  readonly reason: string;
  /** Scenario-specific numbers for the report. */
  readonly figures: Readonly<Record<string, number | string | null>>;
}

/** A request slower than this counts as failed, unless the scenario states its own bound. */
export const DEFAULT_LATENCY_BOUND_MS = 2000;

/** The safety part of every promise: returns what broke, or undefined. */
export function safetyBreach(check: CheckResult): string | undefined {
  const w = check.writes;
  const broken: string[] = [];
  if (check.finalStateError) broken.push(`final state unreadable (${check.finalStateError})`);
  if (w.lost.length > 0) broken.push(`${w.lost.length} acknowledged write(s) lost`);
  if (w.duplicated.length > 0) broken.push(`${w.duplicated.length} write(s) duplicated`);
  if (check.rywViolations.length > 0) broken.push(`${check.rywViolations.length} read-your-writes violation(s)`);
  if (check.writableOverlaps.length > 0) broken.push('two databases were writable at once');
  if (check.unsampledDbs.length > 0)
    broken.push(
      `${check.unsampledDbs.join(', ')} never answered a read_only sighting (two writable databases not ruled out)`,
    );
  if (check.divergence.length > 0) broken.push(`the databases diverged (${check.divergence.join('; ')})`);
  return broken.length > 0 ? broken.join('; ') : undefined;
}

/** The counts every verdict reports: failed (first attempts, in time), retried, slow. */
export function baseFigures(check: CheckResult): Record<string, number> {
  return {
    failed: check.failed,
    failedReads: check.byKind.page.failed + check.byKind.api.failed + check.byKind['read-own'].failed,
    failedWrites: check.byKind.write.failed,
    retried: check.writes.retried,
    slow: check.slow,
  };
}

/** What failed, in words: `3 of 2000 requests failed (1 retried, 2 slower than 2000 ms)`. */
export function failedText(check: CheckResult, boundMs: number): string {
  const why = [
    ...(check.writes.retried > 0 ? [`${check.writes.retried} retried`] : []),
    ...(check.slow > 0 ? [`${check.slow} slower than ${boundMs} ms`] : []),
  ];
  return `${check.failed} of ${check.ops} requests failed${why.length > 0 ? ` (${why.join(', ')})` : ''}`;
}

/** Requests that started after the fault and were answered in time: the proof that load ran through it. */
export const okAfter = (history: History, t: number) => history.ops.filter((o) => o.start >= t && !isFailure(o)).length;

export function zeroFailed(
  { check, history, faultAt }: PromiseInput,
  extra: Record<string, number | string | null> = {},
): Verdict {
  const breach = safetyBreach(check);
  const boundMs = history.latencyBoundMs ?? DEFAULT_LATENCY_BOUND_MS;
  const figures = { ...baseFigures(check), latencyBoundMs: boundMs, ...extra };
  if (breach) return { kept: false, reason: breach, figures };
  if (check.failed > 0) return { kept: false, reason: failedText(check, boundMs), figures };
  if (okAfter(history, faultAt) === 0) return { kept: false, reason: 'no request ran after the fault', figures };
  return { kept: true, reason: `0 of ${check.ops} requests failed (latency bound ${boundMs} ms)`, figures };
}

/** kill-lb on netns: how long requests may fail after the active LB's host dies (the VIP moves in 0.26–0.36 s). */
export const KILL_LB_WINDOW_MS = 500;

/** kill-server: how soon the load balancer must mark a dead server down. */
export const MARK_DOWN_WITHIN_MS = 1500;

/**
 * The VIP moves, and requests fail only within `windowMs` of the fault: none that
 * started later failed. Also reports the failure window and when the VIP moved.
 */
export function failoverVerdict({ check, history, faultAt }: PromiseInput, windowMs: number): Verdict {
  const killed = vipHolderAt(history.vipSamples ?? [], faultAt);
  const movedAt = vipMovedAt(history.vipSamples ?? [], killed, faultAt);
  const late = failedSince(history.ops, faultAt + windowMs);
  const window = failureWindow(history.ops, faultAt);
  // When the last user saw a failure: a request in flight on the dead LB fails when its reset comes.
  const failedEnds = history.ops.filter((o) => isFailure(o) && o.end >= faultAt).map((o) => o.end - faultAt);
  const lastEnd = failedEnds.length > 0 ? Math.max(...failedEnds) : undefined;
  const figures = {
    ...baseFigures(check),
    latencyBoundMs: history.latencyBoundMs ?? DEFAULT_LATENCY_BOUND_MS,
    failedAfterWindow: late.length,
    lastFailureEndMs: lastEnd ?? null,
    failureWindowMs: window?.durationMs ?? 0,
    lastFailureStartMs: window ? window.lastFailureStartMs : null,
    vipFrom: killed ?? null,
    vipTo: movedAt?.holder ?? null,
    vipMovedAfterMs: movedAt ? movedAt.at - faultAt : null,
  };
  const breach = safetyBreach(check);
  if (breach) return { kept: false, reason: breach, figures };
  const hit = history.faults[0]?.hosts ?? [];
  if (killed && hit.length > 0 && !hit.includes(killed))
    return {
      kept: false,
      reason: `the fault hit ${hit.join(', ')}, but ${killed} held the VIP at that moment`,
      figures,
    };
  if (!movedAt) return { kept: false, reason: `the VIP never moved away from ${killed ?? 'the killed LB'}`, figures };
  if (late.length > 0)
    return {
      kept: false,
      reason: `${late.length} request(s) started more than ${windowMs} ms after the fault failed`,
      figures,
    };
  // The window a user lives: from the first failure to the first success after the last
  // one. A request that was in flight on the dead host ends only at the client's own
  // timeout, whatever the stack does: its end is reported (lastFailureEndMs), not judged.
  if (window && window.durationMs > windowMs)
    return {
      kept: false,
      reason: `requests failed for ${window.durationMs} ms (promise: ${windowMs} ms)`,
      figures,
    };
  if (okAfter(history, faultAt + windowMs) === 0)
    return { kept: false, reason: `no request succeeded more than ${windowMs} ms after the fault`, figures };
  return {
    kept: true,
    reason: `the VIP moved to ${movedAt.holder} ${movedAt.at - faultAt} ms after the fault; ${check.failed} request(s) failed, all within ${window?.durationMs ?? 0} ms`,
    figures,
  };
}

/**
 * kill-server: the LB marks the dead server down within MARK_DOWN_WITHIN_MS; no request
 * fails after that; and before it, at most the dead server's share of the requests
 * (those running at some moment between the fault and the mark-down, divided by the
 * number of servers) fail.
 */
export function markDownVerdict(input: PromiseInput, server: string): Verdict {
  const { check, history, faultAt, plan } = input;
  // With two LBs, what counts is the view of the one taking the traffic (the VIP holder).
  const activeLb = vipHolderAt(history.vipSamples ?? [], faultAt);
  const samples = history.lbSamples.filter((s) => !activeLb || s.lb === activeLb);
  const downAt = markedDownAt(samples, server, faultAt);
  const after = downAt === undefined ? null : failedSince(history.ops, downAt).length;
  const before = check.failed - (after ?? 0);
  // Requests the fault could touch before the mark-down: running at some moment in [fault, mark-down).
  const sentBefore = history.ops.filter((o) => o.end >= faultAt && o.start < (downAt ?? faultAt)).length;
  const share = Math.ceil(sentBefore / Math.max(1, plan.lb.backends.length));
  const figures = {
    ...baseFigures(check),
    latencyBoundMs: history.latencyBoundMs ?? DEFAULT_LATENCY_BOUND_MS,
    failedBeforeMarkedDown: before,
    failedBeforeMarkedDownBound: downAt === undefined ? null : share,
    failedAfterMarkedDown: after,
    markedDownAfterMs: downAt === undefined ? null : downAt - faultAt,
  };
  if (downAt === undefined) return { kept: false, reason: `the load balancer never marked ${server} down`, figures };
  const breach = safetyBreach(check);
  if (breach) return { kept: false, reason: breach, figures };
  if (downAt - faultAt > MARK_DOWN_WITHIN_MS)
    return {
      kept: false,
      reason: `${server} was marked down ${downAt - faultAt} ms after the fault (promise: ${MARK_DOWN_WITHIN_MS} ms)`,
      figures,
    };
  if (after! > 0) return { kept: false, reason: `${after} request(s) failed after ${server} was marked down`, figures };
  if (before > share)
    return {
      kept: false,
      reason: `${before} request(s) failed before the mark-down, more than the dead server's share (${share} of ${sentBefore})`,
      figures,
    };
  if (okAfter(history, downAt) === 0)
    return { kept: false, reason: `no request succeeded after ${server} was marked down`, figures };
  return {
    kept: true,
    reason: `marked down ${downAt - faultAt} ms after the fault; ${before} failed before (bound ${share}), 0 after`,
    figures,
  };
}
