/**
 * Read collapsing: a read identical (same SQL, same parameters) to one already in
 * flight joins it instead of running again, so a burst of page views costs one query.
 */
import type { ReadOptions, SqlParam } from './types.ts';

/** Reads that must see fresh data (`minGtid`, `primary`) never join another. */
export function mayCollapse(enabled: boolean, options: ReadOptions): boolean {
  return enabled && options.minGtid === undefined && !options.primary;
}

/** Identifies a read: SQL and parameters (NUL cannot occur in either's JSON). */
export function collapseKey(sql: string, params: readonly SqlParam[]): string {
  return `${sql}\u0000${JSON.stringify(params)}`;
}

/** Reads in flight by key; an entry lives from the read's start until it settles. */
export class InFlightReads {
  private readonly inFlight = new Map<string, Promise<unknown>>();

  /** Joins the read in flight under `key`, or starts one with `start`. */
  join<T>(key: string, start: () => Promise<T>): Promise<T> {
    const joined = this.inFlight.get(key);
    if (joined) return joined as Promise<T>;
    const started = start().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, started);
    return started;
  }

  get size(): number {
    return this.inFlight.size;
  }
}
