/**
 * etcd v3's JSON gateway, the pure half: request bodies and response parsing. Keys and
 * values travel base64-encoded; 64-bit integers (revisions, lease ids) travel as decimal
 * strings and stay strings here, so nothing is rounded.
 */

/** One key as etcd holds it. */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
  readonly createRevision: string;
  readonly modRevision: string;
  readonly version: string;
  /** The lease the key is attached to; '0' when none. */
  readonly lease: string;
}

/** A condition of a transaction, on one key. */
export type Compare =
  | { readonly key: string; readonly target: 'VALUE'; readonly value: string }
  | { readonly key: string; readonly target: 'CREATE' | 'MOD'; readonly revision: string };

/** One operation of a transaction's branch. */
export type Op =
  | { readonly put: string; readonly value: string; readonly lease?: string }
  | { readonly delete: string }
  | { readonly get: string };

export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

export function unb64(text: string | undefined): string {
  return text === undefined ? '' : Buffer.from(text, 'base64').toString('utf8');
}

/** The end of the range holding every key that starts with `prefix` (etcd's `clientv3.GetPrefixRangeEnd`). */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i] = end[i]! + 1;
      return end.toString('base64');
    }
  }
  // Every byte is 0xff: the range runs to the end of the keyspace.
  return Buffer.from([0]).toString('base64');
}

export function rangeBody(key: string, options: { prefix?: boolean } = {}): Record<string, string> {
  return options.prefix ? { key: b64(key), range_end: prefixEnd(key) } : { key: b64(key) };
}

export function putBody(key: string, value: string, lease?: string): Record<string, string> {
  return lease !== undefined && lease !== '0'
    ? { key: b64(key), value: b64(value), lease }
    : { key: b64(key), value: b64(value) };
}

function compareBody(c: Compare): Record<string, string> {
  if (c.target === 'VALUE') return { key: b64(c.key), target: 'VALUE', result: 'EQUAL', value: b64(c.value) };
  const field = c.target === 'CREATE' ? 'create_revision' : 'mod_revision';
  return { key: b64(c.key), target: c.target, result: 'EQUAL', [field]: c.revision };
}

function opBody(op: Op): Record<string, unknown> {
  if ('put' in op) return { request_put: putBody(op.put, op.value, op.lease) };
  if ('delete' in op) return { request_delete_range: { key: b64(op.delete) } };
  return { request_range: rangeBody(op.get) };
}

export function txnBody(compare: readonly Compare[], success: readonly Op[], failure: readonly Op[] = []): unknown {
  return { compare: compare.map(compareBody), success: success.map(opBody), failure: failure.map(opBody) };
}

interface RawKeyValue {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}

export function parseKeyValue(raw: RawKeyValue): KeyValue {
  return {
    key: unb64(raw.key),
    value: unb64(raw.value),
    createRevision: raw.create_revision ?? '0',
    modRevision: raw.mod_revision ?? '0',
    version: raw.version ?? '0',
    lease: raw.lease ?? '0',
  };
}

/** The keys of a range response (the gateway omits `kvs` when there are none). */
export function parseRange(body: unknown): KeyValue[] {
  const kvs = (body as { kvs?: RawKeyValue[] } | null)?.kvs ?? [];
  return kvs.map(parseKeyValue);
}

/** Whether a transaction's comparisons held, and the keys its `get` operations read. */
export function parseTxn(body: unknown): { succeeded: boolean; kvs: KeyValue[] } {
  const b = body as { succeeded?: boolean; responses?: { response_range?: { kvs?: RawKeyValue[] } }[] } | null;
  const kvs = (b?.responses ?? []).flatMap((r) => (r.response_range?.kvs ?? []).map(parseKeyValue));
  return { succeeded: b?.succeeded === true, kvs };
}

/**
 * The TTL a keepalive answered with: 0 when the lease is gone (the gateway omits a zero
 * TTL, and wraps a streamed answer in `result`).
 */
export function parseKeepAlive(body: unknown): number {
  const b = body as { result?: { TTL?: string }; TTL?: string } | null;
  return Number(b?.result?.TTL ?? b?.TTL ?? 0);
}
