/**
 * Which node is the primary, from one probe round of `@@global.read_only` on every node.
 * Pure. The sentinels' fencing guarantees at most one writable node; when two answer
 * writable anyway, the client picks neither (a blind pick could split the writes).
 */

/** One node's answer in a probe round. */
export type NodeProbe =
  { readonly server: string; readonly readOnly: boolean } | { readonly server: string; readonly error: string };

export type PrimaryChoice =
  | { readonly kind: 'found'; readonly server: string }
  /** No node answered writable: a failover is under way, or every node is down. */
  | { readonly kind: 'unknown'; readonly reason: string }
  /** More than one node answered writable: writes wait for a probe that finds one. */
  | { readonly kind: 'two-writable'; readonly servers: readonly string[] };

/**
 * `@@global.read_only` as the server reports it (0/1, or ON/OFF through some drivers);
 * undefined for anything else, which the probe treats as a failed answer.
 */
export function readOnlyAnswer(value: unknown): boolean | undefined {
  const text = String(value ?? '').toUpperCase();
  if (text === '0' || text === 'OFF') return false;
  if (text === '1' || text === 'ON') return true;
  return undefined;
}

/**
 * The primary is the only node that answered `read_only = 0`. Nodes that did not answer
 * do not count: the client cannot write to them either.
 */
export function choosePrimary(probes: readonly NodeProbe[]): PrimaryChoice {
  const writable = probes.filter((p) => 'readOnly' in p && !p.readOnly).map((p) => p.server);
  if (writable.length === 1) return { kind: 'found', server: writable[0]! };
  if (writable.length > 1) return { kind: 'two-writable', servers: writable };
  const failed = probes.filter((p): p is { server: string; error: string } => 'error' in p);
  const readOnly = probes.length - failed.length;
  const reason =
    probes.length === 0
      ? 'no database node is configured'
      : [
          readOnly > 0 ? `${readOnly} of ${probes.length} nodes are read-only` : '',
          ...failed.map((f) => `${f.server}: ${f.error}`),
        ]
          .filter((s) => s !== '')
          .join('; ');
  return { kind: 'unknown', reason: `no writable primary (${reason})` };
}
