/**
 * Read collapsing: a read identical (same SQL, same parameters) to one already in
 * flight joins it instead of running again, so a burst of page views costs one query.
 * Callers that joined each get their own copy of the result.
 */
import type { ReadOptions, SqlParam } from './types.ts';

/** Reads that must see fresh data (`minGtid`, `primary`) never join another. */
export function mayCollapse(enabled: boolean, options: ReadOptions): boolean {
  return enabled && options.minGtid === undefined && !options.primary;
}

/**
 * One parameter as type-tagged text: values that bind differently never share a key
 * (1 vs '1' vs 1n, null vs 'null', a Date vs its ISO string), and strings are quoted, so
 * no value's text can run into the next one's.
 */
function encodeParam(value: unknown): string {
  if (value === null) return 'N';
  if (value === undefined) return 'U';
  switch (typeof value) {
    case 'string':
      return `s${JSON.stringify(value)}`;
    case 'number':
      return `n${Object.is(value, -0) ? '-0' : String(value)}`;
    case 'bigint':
      return `b${value.toString()}`;
    case 'boolean':
      return value ? 'T' : 'F';
  }
  if (value instanceof Date) return `d${value.getTime()}`;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `x${Buffer.from(value).toString('hex')}`;
  if (Array.isArray(value)) return `[${value.map(encodeParam).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${JSON.stringify(k)}:${encodeParam(v)}`,
    );
    return `{${entries.join(',')}}`;
  }
  // functions and symbols: never bound; a key of their own keeps them apart
  return `?${String(value)}`;
}

/** Identifies a read: the SQL (length-prefixed) and its type-tagged parameters. */
export function collapseKey(sql: string, params: readonly SqlParam[]): string {
  return `${sql.length}:${sql}${encodeParam(params)}`;
}

/**
 * A copy of a read's result: its rows and their values as mysql2 returns them
 * (primitives, Date, Buffer, JSON columns parsed into arrays and objects), deep enough
 * that changing the copy changes nothing else.
 */
export function copyValue<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (Buffer.isBuffer(value)) return Buffer.from(value) as T;
  if (ArrayBuffer.isView(value)) return structuredClone(value);
  if (Array.isArray(value)) return value.map(copyValue) as T;
  const copy = Object.create(Object.getPrototypeOf(value) as object | null) as Record<string, unknown>;
  for (const [key, field] of Object.entries(value)) copy[key] = copyValue(field);
  return copy as T;
}

interface Entry {
  readonly settled: Promise<unknown>;
  callers: number;
}

/** Reads in flight by key; an entry lives from the read's start until it settles. */
export class InFlightReads {
  private readonly inFlight = new Map<string, Entry>();

  /** @param copy gives each caller of a joined read its own result */
  constructor(private readonly copy: <T>(value: T) => T = copyValue) {}

  /**
   * Joins the read in flight under `key`, or starts one with `start`. A read nobody
   * joined hands its result over as it is; a joined one gives every caller a copy.
   */
  join<T>(key: string, start: () => Promise<T>): Promise<T> {
    let entry = this.inFlight.get(key);
    if (entry === undefined) {
      entry = { settled: start().finally(() => this.inFlight.delete(key)), callers: 0 };
      this.inFlight.set(key, entry);
    }
    entry.callers += 1;
    // The entry leaves the map before `settled` settles, so `callers` is final here.
    const joined = entry;
    return joined.settled.then((value) => (joined.callers > 1 ? this.copy(value as T) : (value as T)));
  }

  get size(): number {
    return this.inFlight.size;
  }
}
