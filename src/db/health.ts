/**
 * Server health: a bounded query on each server's health connections. The primary
 * answers its `@@gtid_binlog_pos` (a ping and a lag sample); a replica answers its
 * `@@gtid_slave_pos` and whether replication runs. A replica serves reads only while it
 * answers, replicates and lags less than the bound; the answers move replicas in and out
 * of the read rotation. Nothing here needs a privilege beyond connecting: variables and
 * `information_schema.GLOBAL_STATUS` are readable by any user.
 */
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Server } from './connections.ts';
import { DbTimeoutError } from './errors.ts';
import { PrimaryPositions } from './replica-lag.ts';
import type { Replica, ReplicaSet } from './replica-set.ts';
import type { DbHealth } from './types.ts';

/** One query on a health connection, bounded by `timeoutMs` from asking for the connection to the answer. */
export async function healthQuery(server: Server, timeoutMs: number, sql: string): Promise<RowDataPacket[]> {
  let timer: NodeJS.Timeout | undefined;
  let conn: PoolConnection | undefined;
  let timedOut = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(
        new DbTimeoutError(`database ${server.name} did not answer a ping within ${timeoutMs} ms`, {
          server: server.name,
        }),
      );
    }, timeoutMs);
  });
  const attempt = (async () => {
    const c = await server.healthPool.getConnection();
    // A connection handed over after the deadline is given back at once.
    if (timedOut) return void c.release();
    conn = c;
    const [rows] = await c.query<RowDataPacket[]>(sql);
    return rows;
  })();
  try {
    const rows = await Promise.race([attempt, deadline]);
    conn?.release();
    return rows ?? [];
  } catch (err) {
    // Its state is unknown (maybe still waiting for the answer): never reuse it.
    conn?.destroy();
    attempt.catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * `Slave_running` is ON while the default connection's IO thread is connected and its SQL
 * thread runs: OFF after STOP SLAVE (either thread), a replication error, or while the
 * IO thread cannot reach its primary.
 */
const REPLICA_STATUS = `SELECT @@gtid_slave_pos AS pos,
  (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVE_RUNNING') AS running`;

export interface ReplicaState {
  /** `Slave_running` (ON/OFF); null when the server is no replica. */
  running: string | null;
  lagMs: number;
}

/**
 * Why a replica must not serve reads, or undefined. It is judged against the primary only
 * while the primary answers: when the primary is down every replica's IO thread is
 * disconnected and its lag unknowable, and a replica's answer beats none.
 */
export function replicaProblem(state: ReplicaState, primaryAnswers: boolean, maxLagMs: number): string | undefined {
  if (!primaryAnswers) return undefined;
  if (state.running !== 'ON') return `replication is not running (Slave_running ${state.running ?? 'absent'})`;
  if (state.lagMs > maxLagMs) return `replica is at least ${state.lagMs} ms behind the primary (bound ${maxLagMs} ms)`;
  return undefined;
}

export interface ReplicaCheck {
  error: string | undefined;
  /** Known when the replica answered. */
  lagMs: number | undefined;
}

export interface HealthCheckOptions {
  timeoutMs: number;
  maxLagMs: number;
}

/** Health checks against one primary, keeping the primary positions that replica lag is measured by. */
export class HealthChecks {
  private readonly positions: PrimaryPositions;

  constructor(
    readonly primary: Server,
    private readonly options: HealthCheckOptions,
  ) {
    this.positions = new PrimaryPositions(options.maxLagMs * 2);
  }

  /** The primary's error, or undefined when it answered (its position is recorded). */
  async checkPrimary(): Promise<string | undefined> {
    try {
      const [row] = await healthQuery(this.primary, this.options.timeoutMs, 'SELECT @@gtid_binlog_pos AS pos');
      this.recordPosition(String(row?.pos ?? ''));
      return undefined;
    } catch (err) {
      return messageOf(err);
    }
  }

  /** A position that cannot be parsed leaves the history as it is: the primary did answer. */
  private recordPosition(position: string): void {
    try {
      this.positions.record(position, Date.now());
    } catch {
      // measured against the positions recorded before
    }
  }

  /** A replica's fitness for reads; `primaryError` is the same round's primary check. */
  async checkReplica(server: Server, primaryError: Promise<string | undefined>): Promise<ReplicaCheck> {
    let state: ReplicaState;
    try {
      const [row] = await healthQuery(server, this.options.timeoutMs, REPLICA_STATUS);
      const running: unknown = row?.running;
      state = {
        running: typeof running === 'string' ? running.toUpperCase() : null,
        lagMs: this.positions.lagMs(String(row?.pos ?? ''), Date.now()),
      };
    } catch (err) {
      return { error: messageOf(err), lagMs: undefined };
    }
    const primaryAnswers = (await primaryError) === undefined;
    return { error: replicaProblem(state, primaryAnswers, this.options.maxLagMs), lagMs: state.lagMs };
  }

  /** The back-off probe of an ejected replica: resolves when it is fit for reads again. */
  async probeReplica(server: Server): Promise<void> {
    const { error } = await this.checkReplica(server, this.checkPrimary());
    if (error !== undefined) throw new Error(error);
  }
}

/**
 * Checks the primary and the `checked` replicas (all by default); a replica that fails
 * is ejected, one that passes is restored.
 */
export async function checkHealth(
  checks: HealthChecks,
  replicas: ReplicaSet<Server>,
  checked: readonly Replica<Server>[] = replicas.replicas,
): Promise<Pick<DbHealth, 'primary' | 'replicas'>> {
  const primaryError = checks.checkPrimary();
  const results = await Promise.all(checked.map((r) => checks.checkReplica(r.server, primaryError)));
  const error = await primaryError;
  return {
    primary: { server: checks.primary.name, ok: error === undefined, ...(error !== undefined ? { error } : {}) },
    replicas: checked.map((replica, i) => {
      const result = results[i]!;
      if (result.error !== undefined) replicas.eject(replica, new Error(result.error));
      else replicas.confirm(replica);
      return {
        server: replica.server.name,
        host: replica.server.host,
        healthy: result.error === undefined,
        ...(result.error !== undefined ? { error: result.error } : {}),
        ...(result.lagMs !== undefined ? { lagMs: result.lagMs } : {}),
      };
    }),
  };
}
