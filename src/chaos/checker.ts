/**
 * The checker: pure functions over a recorded history and the final database state.
 * A request counts as failed unless its first attempt got the expected answer within
 * the scenario's latency bound: a write that succeeded only because the client retried
 * it is a failure of the promise (and is also counted as retried). Finds failed
 * requests by kind, acknowledged writes missing afterwards on any database node (lost),
 * writes applied twice (duplicated), read-your-writes violations, the outage window
 * and recovery time, and moments when two databases accepted writes at once.
 */
import type { DbSample, History, LbSample, NodeState, Op, OpKind, VipSample } from './history.ts';
import { finalDivergence } from './divergence.ts';
import { idOfBody, OP_KINDS } from './history.ts';

export interface KindCounts {
  readonly total: number;
  readonly ok: number;
  readonly failed: number;
}

export interface Window {
  /** ms since the run started. */
  readonly fromMs: number;
  readonly toMs: number;
}

export interface CheckResult {
  readonly ops: number;
  readonly failed: number;
  readonly byKind: Readonly<Record<OpKind, KindCounts>>;
  /** The first few failures, for the report. */
  readonly sampleFailures: readonly (Op & { readonly atMs: number })[];
  readonly writes: {
    readonly acknowledged: number;
    /** Not acknowledged (error status, timeout, reset): may or may not have been applied. */
    readonly indeterminate: number;
    /** Of those, how many the final state holds. */
    readonly indeterminateApplied: number;
    /** Acknowledged, yet missing from the final state of at least one database node. */
    readonly lost: readonly string[];
    /** Per node, the acknowledged writes it misses (only nodes that miss some). */
    readonly lostOn: readonly { readonly host: string; readonly ids: readonly string[] }[];
    /** Present more than once in the final state (of any node). */
    readonly duplicated: readonly string[];
    /** Retried once with the same id after the first try failed (see traffic.ts); each is a failed request. */
    readonly retried: number;
  };
  /** Successful requests slower than the scenario's latency bound (each is a failed request). */
  readonly slow: number;
  /** read-own operations that did not find the write acknowledged just before. */
  readonly rywViolations: readonly string[];
  /** First to last failure (by start time); null when nothing failed. */
  readonly outage: (Window & { readonly durationMs: number }) | null;
  /**
   * From the first fault until every kind of request worked again (per kind: the first
   * success after its last failure). 0 when nothing failed; null when some kind was
   * still failing at the end (never recovered).
   */
  readonly recoveryMs: number | null;
  /** Same, for writes alone: when writes worked again after the fault. */
  readonly writeRecoveryMs: number | null;
  /** Windows in which the sightings prove two or more databases up with read_only = 0 at once. */
  readonly writableOverlaps: readonly (Window & { readonly hosts: readonly string[] })[];
  /** Database hosts that never answered a `read_only` sighting: two writable databases cannot be ruled out. */
  readonly unsampledDbs: readonly string[];
  /** The final state could not be read (on some node): lost/duplicated are unknown. */
  readonly finalStateError?: string;
  /** How the database nodes differ after the heal (GTID sets, table checksums, writable). */
  readonly divergence: readonly string[];
}

/** Failed for the user: anything but the expected answer, in time, at the first attempt. */
export const isFailure = (op: Op) => op.outcome !== 'ok' || (op.attempts ?? 1) > 1;

/** The expected answer (a write: acknowledged), however late and after however many attempts. */
export const answered = (op: Op) => op.outcome === 'ok' || op.outcome === 'slow';

export function countByKind(ops: readonly Op[]): Record<OpKind, KindCounts> {
  const out = {} as Record<OpKind, KindCounts>;
  for (const kind of OP_KINDS) {
    const of = ops.filter((o) => o.kind === kind);
    const failed = of.filter(isFailure).length;
    out[kind] = { total: of.length, ok: of.length - failed, failed };
  }
  return out;
}

/** First to last failed operation, by start time; null when none failed. */
export function outageWindow(ops: readonly Op[], t0: number): CheckResult['outage'] {
  const failed = ops.filter(isFailure);
  if (failed.length === 0) return null;
  const from = Math.min(...failed.map((o) => o.start));
  const to = Math.max(...failed.map((o) => o.start));
  return { fromMs: from - t0, toMs: to - t0, durationMs: to - from };
}

/**
 * From `faultAt` to the end of the first successful operation started after the last
 * failure. 0 when none failed after the fault; null when none succeeded after the last.
 */
export function recoveryTime(ops: readonly Op[], faultAt: number | undefined): number | null {
  if (faultAt === undefined) return 0;
  const failures = ops.filter((o) => isFailure(o) && o.end >= faultAt);
  if (failures.length === 0) return 0;
  const lastFailure = Math.max(...failures.map((o) => o.start));
  const after = ops.filter((o) => !isFailure(o) && o.start > lastFailure);
  if (after.length === 0) return null;
  return Math.max(0, Math.min(...after.map((o) => o.end)) - faultAt);
}

/**
 * Recovery of the whole workload: the slowest kind's recovery, so that reads that kept
 * working cannot hide writes that never came back (null when any kind did not recover).
 */
export function recoveryOfEveryKind(ops: readonly Op[], faultAt: number | undefined): number | null {
  let worst = 0;
  for (const kind of OP_KINDS) {
    const r = recoveryTime(
      ops.filter((o) => o.kind === kind),
      faultAt,
    );
    if (r === null) return null;
    worst = Math.max(worst, r);
  }
  return worst;
}

export function lostAndDuplicated(
  ops: readonly Op[],
  runId: string,
  posts: readonly { uid: string; body: string }[],
): { lost: string[]; duplicated: string[]; indeterminateApplied: number } {
  const copies = new Map<string, number>();
  for (const p of posts) {
    const id = idOfBody(runId, p.body);
    if (id !== undefined) copies.set(id, (copies.get(id) ?? 0) + 1);
  }
  const writes = ops.filter((o) => o.kind === 'write' && o.id !== undefined);
  const lost = writes.filter((o) => answered(o) && !copies.has(o.id!)).map((o) => o.id!);
  const duplicated = [...copies].filter(([, n]) => n > 1).map(([id]) => id);
  const indeterminateApplied = writes.filter((o) => !answered(o) && copies.has(o.id!)).length;
  return { lost, duplicated, indeterminateApplied };
}

/** A read-back that answered "not found" (or another post) after its write was acknowledged. */
export function rywViolations(ops: readonly Op[]): string[] {
  const acked = new Set(ops.filter((o) => o.kind === 'write' && answered(o)).map((o) => o.id));
  return ops
    .filter((o) => o.kind === 'read-own' && acked.has(o.id) && o.outcome === 'fail' && o.status === 404)
    .map((o) => o.id!);
}

/** Consecutive writable sightings of one host: no other sighting of it came between them. */
interface WritableRun {
  readonly host: string;
  readonly first: DbSample;
  readonly last: DbSample;
}

function writableRuns(samples: readonly DbSample[]): WritableRun[] {
  const byHost = new Map<string, DbSample[]>();
  for (const s of samples) byHost.set(s.host, [...(byHost.get(s.host) ?? []), s]);
  const runs: WritableRun[] = [];
  for (const [host, seen] of byHost) {
    let open: { first: DbSample; last: DbSample } | undefined;
    for (const s of [...seen].sort((a, b) => a.at - b.at)) {
      if (s.up && s.readOnly === false) open = { first: open?.first ?? s, last: s };
      else if (open) {
        runs.push({ host, ...open });
        open = undefined;
      }
    }
    if (open) runs.push({ host, ...open });
  }
  return runs;
}

/**
 * Windows in which two or more databases were writable (up, read_only = 0) at one
 * instant, counted only when the sightings prove it. A sighting is one query: its answer
 * held at some instant of [at, end], no more, so two overlapping "writable" sightings of
 * two nodes do not prove both at once (the hand-over may fall between the two instants).
 * A node is held writable between two of its writable sightings only when no other
 * sighting of it (read-only or unanswered: a restart starts read-only) came between
 * them, and on the assumption that its read_only did not flip twice in that gap (away
 * and back within one sampling period). A run of such sightings, first to last, was
 * writable from an instant no later than `first.end` to one no earlier than `last.at`
 * (the sampler queries a node one query at a time, so `first.end <= last.at`); a run of
 * one sighting, at one unknown instant of it. Runs A and B then surely share an instant
 * when each began for sure before the other surely ended: `A.first.end < B.last.at` and
 * `B.first.end < A.last.at`. Strict, since times are whole ms. This also covers a lone
 * sighting of B inside A's sure interval, and never holds for two lone sightings.
 * The window reported is where both held for sure (or where the shared instant lies).
 */
export function writableOverlaps(samples: readonly DbSample[], t0: number): CheckResult['writableOverlaps'] {
  const runs = writableRuns(samples);
  const proven: { from: number; to: number; hosts: Set<string> }[] = [];
  for (const [i, a] of runs.entries()) {
    for (const b of runs.slice(i + 1)) {
      if (a.host === b.host || a.first.end >= b.last.at || b.first.end >= a.last.at) continue;
      const began = Math.max(a.first.end, b.first.end);
      const ended = Math.min(a.last.at, b.last.at);
      proven.push({ from: Math.min(began, ended), to: Math.max(began, ended), hosts: new Set([a.host, b.host]) });
    }
  }
  // Windows that touch are one episode, with every host seen in it.
  const out: { fromMs: number; toMs: number; hosts: string[] }[] = [];
  let open: { from: number; to: number; hosts: Set<string> } | undefined;
  for (const w of proven.sort((x, y) => x.from - y.from)) {
    if (open && w.from <= open.to) {
      open.to = Math.max(open.to, w.to);
      for (const h of w.hosts) open.hosts.add(h);
      continue;
    }
    if (open) out.push({ fromMs: open.from - t0, toMs: open.to - t0, hosts: [...open.hosts].sort() });
    open = w;
  }
  if (open) out.push({ fromMs: open.from - t0, toMs: open.to - t0, hosts: [...open.hosts].sort() });
  return out;
}

/**
 * Database hosts that never answered a `read_only` sighting: for them two writable
 * databases cannot be ruled out. A history naming no database host rules out nothing.
 */
export function unsampledDbs(dbHosts: readonly string[], samples: readonly DbSample[]): string[] {
  if (dbHosts.length === 0) return ['(no database host recorded)'];
  return dbHosts.filter((h) => !samples.some((s) => s.host === h && s.up));
}

/**
 * When the load balancer first reported `server` down (DOWN or MAINT) at or after
 * `after`; undefined when it never did.
 */
export function markedDownAt(samples: readonly LbSample[], server: string, after: number): number | undefined {
  return samples
    .filter((s) => s.server === server && s.at >= after && /^(DOWN|MAINT)/.test(s.status))
    .map((s) => s.at)
    .sort((a, b) => a - b)[0];
}

/** Failed operations that started at or after `t`. */
export function failedSince(ops: readonly Op[], t: number): Op[] {
  return ops.filter((o) => isFailure(o) && o.start >= t);
}

/**
 * The failure window around a fault, as a user lives it: from the first failed request
 * that was still running at the fault (or started after it) to the end of the first
 * success that started after the last failure. Times in ms after the fault; undefined
 * when nothing failed. `recoveredMs` is null when nothing succeeded afterwards.
 */
export function failureWindow(
  ops: readonly Op[],
  faultAt: number,
): { firstFailureMs: number; lastFailureStartMs: number; recoveredMs: number | null; durationMs: number } | undefined {
  const failures = ops.filter((o) => isFailure(o) && o.end >= faultAt);
  if (failures.length === 0) return undefined;
  const first = Math.max(faultAt, Math.min(...failures.map((o) => o.start)));
  const last = Math.max(...failures.map((o) => o.start));
  const after = ops.filter((o) => !isFailure(o) && o.start > last);
  const recovered = after.length > 0 ? Math.min(...after.map((o) => o.end)) : undefined;
  return {
    firstFailureMs: first - faultAt,
    lastFailureStartMs: last - faultAt,
    recoveredMs: recovered === undefined ? null : recovered - faultAt,
    durationMs: (recovered ?? Math.max(...failures.map((o) => o.end))) - first,
  };
}

/** Latency (ms) of the answered operations (slow ones too) that started in [from, to): p50, p99, max. */
export function latencies(
  ops: readonly Op[],
  from: number,
  to: number,
): { count: number; p50: number | null; p99: number | null; max: number | null } {
  const ms = ops
    .filter((o) => answered(o) && o.start >= from && o.start < to)
    .map((o) => o.end - o.start)
    .sort((a, b) => a - b);
  const at = (q: number) => (ms.length === 0 ? null : ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!);
  return { count: ms.length, p50: at(0.5), p99: at(0.99), max: ms.length === 0 ? null : ms[ms.length - 1]! };
}

/** Who held the VIP at `t`: the last sample at or before it (else the first one after). */
export function vipHolderAt(samples: readonly VipSample[], t: number): string | undefined {
  const sorted = [...samples].sort((a, b) => a.at - b.at);
  const before = sorted.filter((s) => s.at <= t && s.holder !== null);
  const pick = before[before.length - 1] ?? sorted.find((s) => s.at > t && s.holder !== null);
  return pick?.holder ?? undefined;
}

/** The first sample after `after` in which another LB than `from` holds the VIP. */
export function vipMovedAt(
  samples: readonly VipSample[],
  from: string | undefined,
  after: number,
): { at: number; holder: string } | undefined {
  const moved = [...samples]
    .sort((a, b) => a.at - b.at)
    .find((s) => s.at >= after && s.holder !== null && s.holder !== from);
  return moved ? { at: moved.at, holder: moved.holder! } : undefined;
}

/**
 * Lost and duplicated writes over every database node: a write is lost when any node
 * misses it (the primary, or a replica a failover would promote); `indeterminateApplied`
 * counts what the primary (the first node) holds.
 */
export function lostOnNodes(
  ops: readonly Op[],
  runId: string,
  nodes: readonly NodeState[],
): { lost: string[]; lostOn: { host: string; ids: string[] }[]; duplicated: string[]; indeterminateApplied: number } {
  const per = nodes.map((n) => ({ host: n.host, ...lostAndDuplicated(ops, runId, n.posts) }));
  const lostOn = per.filter((n) => n.lost.length > 0).map((n) => ({ host: n.host, ids: n.lost }));
  return {
    lost: [...new Set(per.flatMap((n) => n.lost))],
    lostOn,
    duplicated: [...new Set(per.flatMap((n) => n.duplicated))],
    indeterminateApplied: per[0]?.indeterminateApplied ?? 0,
  };
}

/** Why the final state cannot settle lost/duplicated, or undefined when every node was read. */
function finalStateProblem(history: History): string | undefined {
  const nodes = history.final?.nodes ?? [];
  if (nodes.length === 0) return 'the final state was not read';
  const unread = nodes.filter((n) => n.error !== undefined);
  if (unread.length > 0) return unread.map((n) => `${n.host}: ${n.error}`).join('; ');
  const missing = history.dbHosts.filter((h) => !nodes.some((n) => n.host === h));
  return missing.length > 0 ? `${missing.join(', ')} not read` : undefined;
}

export function check(history: History): CheckResult {
  const t0 = history.startedAt;
  const { ops } = history;
  const faultAt = history.faults.length > 0 ? Math.min(...history.faults.map((f) => f.at)) : undefined;
  const failures = ops.filter(isFailure).sort((a, b) => a.start - b.start);
  const finalError = finalStateProblem(history);
  const { lost, lostOn, duplicated, indeterminateApplied } = lostOnNodes(
    ops,
    history.runId,
    history.final?.nodes ?? [],
  );
  const writes = ops.filter((o) => o.kind === 'write');
  return {
    ops: ops.length,
    failed: failures.length,
    byKind: countByKind(ops),
    sampleFailures: failures.slice(0, 5).map((o) => ({ ...o, atMs: o.start - t0 })),
    writes: {
      acknowledged: writes.filter(answered).length,
      indeterminate: writes.filter((o) => !answered(o)).length,
      indeterminateApplied,
      lost,
      lostOn,
      duplicated,
      retried: writes.filter((o) => (o.attempts ?? 1) > 1).length,
    },
    slow: ops.filter((o) => o.outcome === 'slow').length,
    rywViolations: rywViolations(ops),
    outage: outageWindow(ops, t0),
    recoveryMs: recoveryOfEveryKind(ops, faultAt),
    writeRecoveryMs: recoveryTime(writes, faultAt),
    writableOverlaps: writableOverlaps(history.dbSamples, t0),
    unsampledDbs: unsampledDbs(history.dbHosts, history.dbSamples),
    divergence: finalDivergence(history.final?.nodes ?? []),
    ...(finalError ? { finalStateError: finalError } : {}),
  };
}
