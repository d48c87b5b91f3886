/**
 * Whether the database nodes ended the same after the heal (GTID set, table checksums)
 * and as replicas of one writable primary: pure over the final state.
 */
import type { NodeState } from './history.ts';

/** A GTID list in a canonical order (`0-1-5,1-1-2` = `1-1-2, 0-1-5`). */
const gtidSet = (gtid: string) =>
  gtid
    .split(',')
    .map((g) => g.trim())
    .filter(Boolean)
    .sort()
    .join(',');

/**
 * How the database nodes differ after the heal: GTID sets, table checksums, and more
 * than one writable node. Nodes that could not be read are left out (that is its own
 * breach); a node read without these figures (an older history) is not compared.
 */
export function finalDivergence(nodes: readonly NodeState[]): string[] {
  const read = nodes.filter((n) => n.error === undefined);
  const out: string[] = [];
  const withGtid = read.filter((n) => n.gtid !== undefined);
  if (new Set(withGtid.map((n) => gtidSet(n.gtid!))).size > 1)
    out.push(`GTID sets differ: ${withGtid.map((n) => `${n.host} ${n.gtid || '(empty)'}`).join(', ')}`);
  const withSums = read.filter((n) => n.checksums !== undefined);
  const tables = [...new Set(withSums.flatMap((n) => Object.keys(n.checksums!)))].sort();
  for (const table of tables) {
    const sums = withSums.map((n) => n.checksums![table] ?? 'missing');
    if (new Set(sums).size > 1)
      out.push(`table ${table} differs: ${withSums.map((n, i) => `${n.host} ${sums[i]}`).join(', ')}`);
  }
  const writable = read.filter((n) => n.readOnly === false).map((n) => n.host);
  if (writable.length > 1) out.push(`${writable.join(' and ')} both writable after the heal`);
  return out;
}

/**
 * Nodes that did not come back as replicas after the heal: every node but the writable
 * one (the first) must be read-only and replicating. Empty for an older history.
 */
export function notRejoined(nodes: readonly NodeState[]): string[] {
  return nodes
    .slice(1)
    .filter((n) => n.error === undefined && n.replicating !== undefined)
    .filter((n) => !n.replicating || n.readOnly !== true)
    .map((n) => `${n.host} (${n.replicating ? 'writable' : 'not replicating'})`);
}
