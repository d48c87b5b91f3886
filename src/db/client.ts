/**
 * `createDb`: the read/write-splitting MariaDB client, assembled from its parts —
 * connections (connections.ts), read routing with read-your-writes (reads.ts), writes
 * (writes.ts), replica health (replica-set.ts, health.ts) and read collapsing (collapse.ts).
 */
import type { RowDataPacket } from 'mysql2/promise';
import { collapseKey, InFlightReads, mayCollapse } from './collapse.ts';
import { closeServers, openServer, type Server, Statements } from './connections.ts';
import { checkHealth, HealthChecks } from './health.ts';
import { routeRead } from './reads.ts';
import { ReplicaSet } from './replica-set.ts';
import type { Db, DbEvent, DbOptions, ReadOptions, ReadResult, SqlParam } from './types.ts';
import { PrimaryWrites } from './writes.ts';

/**
 * A read/write-splitting MariaDB client: writes and transactions on the primary (with the
 * session's `last_gtid`), reads round-robin over healthy replicas, read-your-writes via
 * MASTER_GTID_WAIT, failed replicas ejected and probed back with exponential back-off.
 */
export function createDb(options: DbOptions): Db {
  const emit = (event: DbEvent): void => options.onEvent?.(event);
  const statements = new Statements(options.queryTimeoutMs ?? 5000);
  const replicaTimeoutMs = options.replicaTimeoutMs ?? 500;
  const primary = openServer(options.primary, options);
  const checks = new HealthChecks(primary, {
    timeoutMs: options.healthTimeoutMs ?? 1000,
    maxLagMs: options.maxReplicaLagMs ?? 5000,
  });
  const replicas = new ReplicaSet<Server>(
    (options.replicas ?? []).map((endpoint) =>
      openServer(endpoint, { ...options, connectTimeoutMs: replicaTimeoutMs }),
    ),
    {
      minBackoffMs: options.minBackoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 10_000,
      probe: (server) => checks.probeReplica(server),
      emit,
    },
  );
  const router = {
    statements,
    primary,
    replicas,
    gtidWaitSeconds: (options.gtidWaitTimeoutMs ?? 1000) / 1000,
    replicaTimeoutMs,
    emit,
  };
  const inFlight = new InFlightReads();
  const writes = new PrimaryWrites(statements, primary);
  const monitor = watchReplicas(checks, replicas, options.replicaCheckIntervalMs ?? 1000);

  function read<T = RowDataPacket>(
    sql: string,
    params: SqlParam[] = [],
    readOptions: ReadOptions = {},
  ): Promise<ReadResult<T>> {
    const routed = () => routeRead<T>(router, sql, params, readOptions);
    if (!mayCollapse(options.coalesceReads !== false, readOptions)) return routed();
    return inFlight.join(collapseKey(sql, params), routed);
  }

  async function close(): Promise<void> {
    if (statements.closed) return;
    statements.closed = true;
    clearInterval(monitor);
    replicas.close();
    await closeServers([primary, ...replicas.replicas.map((r) => r.server)]);
  }

  return {
    read,
    write: (sql, params) => writes.write(sql, params),
    transaction: (fn) => writes.transaction(fn),
    health: () => checkHealth(checks, replicas),
    close,
  };
}

/**
 * Checks the healthy replicas every `intervalMs` (one round at a time), so a replica that
 * stops replicating or falls behind leaves the rotation even when nobody calls `health()`.
 */
function watchReplicas(
  checks: HealthChecks,
  replicas: ReplicaSet<Server>,
  intervalMs: number,
): NodeJS.Timeout | undefined {
  if (intervalMs <= 0 || replicas.replicas.length === 0) return undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    const healthy = replicas.replicas.filter((r) => r.health.healthy);
    void checkHealth(checks, replicas, healthy)
      .catch(() => {})
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return timer;
}
