/**
 * `createDb`: the read/write-splitting MariaDB client, assembled from its parts —
 * connections (connections.ts), finding the primary (primary-finder.ts) and the roles it
 * gives the nodes (roles.ts), read routing with read-your-writes (reads.ts), writes
 * (writes.ts), replica health (replica-set.ts, health.ts) and read collapsing (collapse.ts).
 */
import type { RowDataPacket } from 'mysql2/promise';
import { collapseKey, InFlightReads, mayCollapse } from './collapse.ts';
import { closeServers, type DbNode, openNode, Statements } from './connections.ts';
import { checkHealth } from './health.ts';
import { PrimaryFinder, probeReadOnly } from './primary-finder.ts';
import { routeRead } from './reads.ts';
import { Roles } from './roles.ts';
import type { Db, DbEndpoint, DbEvent, DbHealth, DbOptions, ReadOptions, ReadResult, SqlParam } from './types.ts';
import { PrimaryWrites } from './writes.ts';

/**
 * A read/write-splitting MariaDB client: writes and transactions on the primary (with the
 * session's `last_gtid`), found among the nodes by probing `read_only` and followed
 * through failovers; reads round-robin over healthy replicas, read-your-writes via
 * MASTER_GTID_WAIT, failed replicas ejected and probed back with exponential back-off.
 */
export function createDb(options: DbOptions): Db {
  const emit = (event: DbEvent): void => options.onEvent?.(event);
  const statements = new Statements(options.queryTimeoutMs ?? 5000);
  const replicaTimeoutMs = options.replicaTimeoutMs ?? 500;
  const { nodes, primary, replicas } = openNodes(options, replicaTimeoutMs);
  const roles = new Roles(nodes, primary, replicas, {
    healthTimeoutMs: options.healthTimeoutMs ?? 1000,
    maxLagMs: options.maxReplicaLagMs ?? 5000,
    minBackoffMs: options.minBackoffMs ?? 500,
    maxBackoffMs: options.maxBackoffMs ?? 10_000,
    emit,
  });
  const primaryProbeTimeoutMs = options.primaryProbeTimeoutMs ?? 500;
  const finder = new PrimaryFinder(nodes, {
    probe: (node) => probeReadOnly(node, primaryProbeTimeoutMs),
    intervalMs: options.primaryProbeIntervalMs ?? 250,
    emit,
    onPrimary: (node) => roles.promote(node),
  });
  const gtidWaitSeconds = (options.gtidWaitTimeoutMs ?? 1000) / 1000;
  const inFlight = new InFlightReads();
  const writes = new PrimaryWrites(statements, finder, { failoverWaitMs: options.failoverWaitMs ?? 3000, emit });
  const monitor = watchReplicas(roles, options.replicaCheckIntervalMs ?? 1000);

  function read<T = RowDataPacket>(
    sql: string,
    params: SqlParam[] = [],
    readOptions: ReadOptions = {},
  ): Promise<ReadResult<T>> {
    const routed = () => {
      const router = { statements, primary: roles.primary.writer, replicas: roles.replicas };
      return routeRead<T>({ ...router, gtidWaitSeconds, replicaTimeoutMs, emit }, sql, params, readOptions);
    };
    if (!mayCollapse(options.coalesceReads !== false, readOptions)) return routed();
    return inFlight.join(collapseKey(sql, params), routed);
  }

  async function health(): Promise<DbHealth> {
    const choice = await finder.refresh();
    const checked = await checkHealth(roles.checks, roles.replicas);
    const refused =
      choice.kind === 'found'
        ? undefined
        : choice.kind === 'two-writable'
          ? `${choice.servers.length} nodes are writable (${choice.servers.join(', ')}): no writes`
          : choice.reason;
    return {
      ...checked,
      primary: refused === undefined ? checked.primary : { server: checked.primary.server, ok: false, error: refused },
      primaryState: choice.kind,
      nodes: finder.probes.map((p) => ({ ...p })),
    };
  }

  async function close(): Promise<void> {
    if (statements.closed) return;
    statements.closed = true;
    clearInterval(monitor);
    finder.close();
    roles.close();
    await closeServers(nodes.flatMap((n) => [n.writer, n.reader]));
  }

  return {
    read,
    write: (sql, params) => writes.write(sql, params),
    transaction: (fn) => writes.transaction(fn),
    health,
    close,
  };
}

/**
 * Every node once (`nodes`, plus `primary` and `replicas` when they name others), and the
 * initial guess of the roles: `primary` or the first node, and `replicas` or the rest.
 */
function openNodes(
  options: DbOptions,
  replicaTimeoutMs: number,
): { nodes: DbNode[]; primary: DbNode; replicas: DbNode[] } {
  const endpoints = [
    ...(options.nodes ?? []),
    ...(options.primary ? [options.primary] : []),
    ...(options.replicas ?? []),
  ];
  const nodes: DbNode[] = [];
  const nodeOf = (endpoint: DbEndpoint): DbNode => {
    const name = `${endpoint.host}:${endpoint.port ?? 3306}`;
    let node = nodes.find((n) => n.name === name);
    if (!node) nodes.push((node = openNode(endpoint, options, replicaTimeoutMs)));
    return node;
  };
  for (const endpoint of endpoints) nodeOf(endpoint);
  const primary = options.primary ? nodeOf(options.primary) : nodes[0];
  if (!primary) throw new TypeError('database options: `nodes` (or `primary`) must name at least one server');
  const replicas = options.replicas ? options.replicas.map(nodeOf) : nodes.filter((n) => n !== primary);
  return { nodes, primary, replicas };
}

/**
 * Checks the healthy replicas every `intervalMs` (one round at a time), so a replica that
 * stops replicating or falls behind leaves the rotation even when nobody calls `health()`.
 */
function watchReplicas(roles: Roles, intervalMs: number): NodeJS.Timeout | undefined {
  if (intervalMs <= 0 || roles.nodes.length < 2) return undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    const { checks, replicas } = roles;
    const healthy = replicas.replicas.filter((r) => r.health.healthy);
    void checkHealth(checks, replicas, healthy)
      .catch(() => {})
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return timer;
}
