/**
 * Figures for database failover, pure over a history: the write outage as a user lives
 * it, and which node was promoted after a fault.
 */
import { isFailure } from './checker.ts';
import type { DbSample, Op } from './history.ts';

export interface WriteOutage {
  /**
   * From `from` until writes were acknowledged again for good: the end of the first
   * write sent after `from` and after the last failed write, or the longest gap between
   * two acknowledgements after that if longer (a stall that failed nothing). null when
   * writes did not come back before `to` (an acknowledgement after `to`, e.g. once a
   * partition was healed, does not show that they came back while it lasted).
   */
  readonly outageMs: number | null;
  /** Writes in [from, to) that failed (error, timeout, retried or slower than the bound). */
  readonly failedWrites: number;
  /** The first failed write's start, ms after `from` (0 for one already running then); null: none failed. */
  readonly firstFailureMs: number | null;
  /** The longest gap between two acknowledgements after writes resumed. */
  readonly longestGapMs: number;
}

/** The write outage in [from, to): writes running at `from` or started before `to`. */
export function writeOutage(ops: readonly Op[], from: number, to: number): WriteOutage {
  const writes = ops.filter((o) => o.kind === 'write' && o.start < to && o.end >= from);
  const failures = writes.filter(isFailure);
  const lastFailure = failures.length > 0 ? Math.max(...failures.map((o) => o.start)) : -Infinity;
  const firstFailureMs = failures.length > 0 ? Math.max(0, Math.min(...failures.map((o) => o.start)) - from) : null;
  const acks = writes
    .filter((o) => !isFailure(o) && o.start >= from && o.end < to)
    .map((o) => o.end)
    .sort((a, b) => a - b);
  const resumed = writes
    .filter((o) => !isFailure(o) && o.start >= from && o.start > lastFailure && o.end < to)
    .reduce<number | undefined>((min, o) => (min === undefined || o.end < min ? o.end : min), undefined);
  if (resumed === undefined) return { outageMs: null, failedWrites: failures.length, firstFailureMs, longestGapMs: 0 };
  let longestGapMs = 0;
  const after = acks.filter((t) => t >= resumed);
  for (let i = 1; i < after.length; i++) longestGapMs = Math.max(longestGapMs, after[i]! - after[i - 1]!);
  return {
    outageMs: Math.max(resumed - from, longestGapMs),
    failedWrites: failures.length,
    firstFailureMs,
    longestGapMs,
  };
}

/** The node that was writable at `at` (its last sample at or before then), if one was. */
export function writableAt(samples: readonly DbSample[], at: number): string | undefined {
  const last = new Map<string, DbSample>();
  for (const s of [...samples].sort((a, b) => a.at - b.at)) if (s.at <= at) last.set(s.host, s);
  return [...last.values()].find((s) => s.up && s.readOnly === false)?.host;
}

/**
 * The first sample in [after, before) in which another node than `former` (default: the
 * one writable at `after`) is writable: the promotion that followed a fault.
 */
export function promotionAfter(
  samples: readonly DbSample[],
  after: number,
  former: string | undefined = writableAt(samples, after),
  before = Infinity,
): { host: string; at: number } | undefined {
  const s = [...samples]
    .sort((a, b) => a.at - b.at)
    .find((x) => x.at >= after && x.at < before && x.up && x.readOnly === false && x.host !== former);
  return s ? { host: s.host, at: s.at } : undefined;
}
