/**
 * Read routing: replicas first (round-robin over the healthy ones), the primary when
 * none can answer, an ejected replica when the primary cannot either. Read-your-writes:
 * with `minGtid` the replica first waits (bounded) in MASTER_GTID_WAIT; a replica that
 * has not caught up hands the read to the primary.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Server, Statements } from './connections.ts';
import { isConnectionFailure } from './errors.ts';
import { isGtidPosition } from './gtid.ts';
import type { Replica, ReplicaSet } from './replica-set.ts';
import type { DbEvent, ReadOptions, ReadResult, SqlParam } from './types.ts';

/** MASTER_GTID_WAIT timed out: the read goes to the primary instead. */
export const GTID_WAIT_TIMEOUT = Symbol('gtid-wait-timeout');

/** MASTER_GTID_WAIT's answer: 0 = applied; -1 = timed out; NULL on error. Only 0 lets the replica answer. */
export function gtidWaitApplied(answer: unknown): boolean {
  return answer !== null && answer !== undefined && Number(answer) === 0;
}

/** Throws on a `minGtid` that is not a GTID position (it is bound, but also never trusted). */
export function checkMinGtid(minGtid: string | undefined): void {
  if (minGtid !== undefined && !isGtidPosition(minGtid)) {
    throw new TypeError(`minGtid is not a GTID position: ${JSON.stringify(minGtid.slice(0, 80))}`);
  }
}

/**
 * One read on one server, after waiting for `minGtid` when given; each statement within
 * `timeoutMs` (the wait: on top of its own seconds), by default the client's deadline.
 */
export async function readOn<T>(
  statements: Statements,
  server: Server,
  sql: string,
  params: SqlParam[],
  wait?: { minGtid: string; seconds: number },
  timeoutMs?: number,
): Promise<T[] | typeof GTID_WAIT_TIMEOUT> {
  const conn = await statements.acquire(server);
  try {
    if (wait !== undefined) {
      const [waited] = await statements.run(
        server,
        conn,
        () => conn.execute<RowDataPacket[]>('SELECT MASTER_GTID_WAIT(?, ?) AS w', [wait.minGtid, wait.seconds]),
        timeoutMs !== undefined ? timeoutMs + wait.seconds * 1000 : undefined,
      );
      if (!gtidWaitApplied(waited[0]?.w)) {
        conn.release();
        return GTID_WAIT_TIMEOUT;
      }
    }
    const [rows] = await statements.run(server, conn, () => conn.execute<RowDataPacket[]>(sql, params), timeoutMs);
    conn.release();
    return rows as unknown as T[];
  } catch (err) {
    statements.release(conn, err);
    throw err;
  }
}

export interface ReadRouterOptions {
  statements: Statements;
  primary: Server;
  replicas: ReplicaSet<Server>;
  gtidWaitSeconds: number;
  /** A replica's deadline per statement (see `DbOptions.replicaTimeoutMs`). */
  replicaTimeoutMs: number;
  emit: (event: DbEvent) => void;
}

/** Routes one read: replicas in turn, then the primary. */
export async function routeRead<T>(
  router: ReadRouterOptions,
  sql: string,
  params: SqlParam[],
  options: ReadOptions,
): Promise<ReadResult<T>> {
  const { statements, primary, replicas, emit } = router;
  const { minGtid } = options;
  checkMinGtid(minGtid);
  const wait = minGtid !== undefined ? { minGtid, seconds: router.gtidWaitSeconds } : undefined;
  const tried = new Set<Replica<Server>>();
  for (let attempt = 0; attempt < (options.primary ? 0 : replicas.replicas.length); attempt++) {
    const replica = replicas.pick(tried);
    if (!replica) break;
    tried.add(replica);
    try {
      const rows = await readOn<T>(statements, replica.server, sql, params, wait, router.replicaTimeoutMs);
      if (rows !== GTID_WAIT_TIMEOUT) return { rows, server: replica.server.name, role: 'replica' };
      emit({ kind: 'read-fallback', from: replica.server.name, to: primary.name, reason: 'gtid-wait-timeout' });
      break;
    } catch (err) {
      if (!isConnectionFailure(err)) throw err;
      replicas.eject(replica, err);
      emit({ kind: 'read-fallback', from: replica.server.name, to: primary.name, reason: 'failure' });
    }
  }
  // The primary has every acknowledged write: no GTID wait there.
  try {
    const rows = (await readOn<T>(statements, primary, sql, params)) as T[];
    return { rows, server: primary.name, role: 'primary' };
  } catch (err) {
    if (!isConnectionFailure(err) || wait !== undefined || options.primary) throw err;
    return await lastResort<T>(router, tried, sql, params, err);
  }
}

/**
 * The primary is down too: a replica out of the rotation (its back-off not elapsed yet)
 * may answer again by now, and with the primary down its answer beats none (as in
 * `replicaProblem`). Not for a read-your-writes read: only a node known to hold the
 * write may answer that. Throws the primary's error when none answers.
 */
async function lastResort<T>(
  router: ReadRouterOptions,
  tried: ReadonlySet<Replica<Server>>,
  sql: string,
  params: SqlParam[],
  primaryError: unknown,
): Promise<ReadResult<T>> {
  for (const replica of router.replicas.replicas.filter((r) => !r.health.healthy && !tried.has(r))) {
    try {
      const rows = await readOn<T>(router.statements, replica.server, sql, params, undefined, router.replicaTimeoutMs);
      router.replicas.confirm(replica);
      return { rows: rows as T[], server: replica.server.name, role: 'replica' };
    } catch (err) {
      if (!isConnectionFailure(err)) throw err;
    }
  }
  throw primaryError;
}
