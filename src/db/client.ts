import { connect, type Socket } from 'node:net';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import mysql from 'mysql2/promise';
import { ReplicaHealth } from './backoff.ts';
import { DbClosedError, DbTimeoutError, isConnectionFailure, toDbError } from './errors.ts';
import { isGtidPosition, trackedLastGtid } from './gtid.ts';
import type {
  Db,
  DbEndpoint,
  DbEvent,
  DbHealth,
  DbOptions,
  ReadOptions,
  ReadResult,
  SqlParam,
  Tx,
  WriteResult,
} from './types.ts';

/** A TCP stream factory for mysql2 that connects from `localAddress`. */
function boundStream(host: string, port: number, localAddress: string): () => Socket {
  return () => {
    const socket = connect({ host, port, localAddress });
    socket.setNoDelay(true);
    socket.once('connect', () => socket.setKeepAlive(true, 0));
    return socket;
  };
}

interface Server {
  /** `host:port`, used in errors, events and health. */
  name: string;
  host: string;
  pool: Pool;
  healthPool: Pool;
}

interface Replica extends Server {
  health: ReplicaHealth;
  probe: NodeJS.Timeout | undefined;
}

/** MASTER_GTID_WAIT timed out: the read goes to the primary instead. */
const GTID_WAIT_TIMEOUT = Symbol('gtid-wait-timeout');

/**
 * A read/write-splitting MariaDB client: writes and transactions on the primary (with the
 * session's `last_gtid`), reads round-robin over healthy replicas, read-your-writes via
 * MASTER_GTID_WAIT, failed replicas ejected and probed back with exponential back-off.
 */
export function createDb(options: DbOptions): Db {
  const queryTimeoutMs = options.queryTimeoutMs ?? 5000;
  const gtidWaitSeconds = (options.gtidWaitTimeoutMs ?? 1000) / 1000;
  const minBackoffMs = options.minBackoffMs ?? 500;
  const maxBackoffMs = options.maxBackoffMs ?? 10_000;
  const emit = (event: DbEvent): void => options.onEvent?.(event);

  const healthTimeoutMs = options.healthTimeoutMs ?? 1000;

  const makeServer = (endpoint: DbEndpoint): Server => {
    const port = endpoint.port ?? 3306;
    const pool = makePool(endpoint, port, options.poolSize ?? 10);
    // Health pings have their own two connections: a query pool saturated by writes
    // waiting on semi-sync must not make the server look dead to the load balancer.
    const healthPool = makePool(endpoint, port, 2);
    return { name: `${endpoint.host}:${port}`, host: endpoint.host, pool, healthPool };
  };

  function makePool(endpoint: DbEndpoint, port: number, size: number): Pool {
    const pool = mysql.createPool({
      host: endpoint.host,
      port,
      user: options.user,
      password: options.password,
      database: options.database,
      // mysql2 3.x accepts `localAddress` but never passes it to net.connect, so bind the
      // source address with a stream factory instead.
      ...(options.localAddress !== undefined ? { stream: boundStream(endpoint.host, port, options.localAddress) } : {}),
      connectionLimit: size,
      maxIdle: size,
      connectTimeout: options.connectTimeoutMs ?? 2000,
      waitForConnections: true,
      enableKeepAlive: true,
    });
    // An idle connection whose server died emits 'error'; the pool drops it. Without a
    // listener Node would treat it as unhandled.
    pool.on('connection', (conn) => conn.on('error', () => {}));
    return pool;
  }

  const primary = makeServer(options.primary);
  const replicas: Replica[] = (options.replicas ?? []).map((endpoint) => ({
    ...makeServer(endpoint),
    health: new ReplicaHealth(minBackoffMs, maxBackoffMs),
    probe: undefined,
  }));
  let closed = false;
  let nextReplica = 0;
  let serverTracksGtid = false;

  async function acquire(server: Server): Promise<PoolConnection> {
    if (closed) throw new DbClosedError();
    try {
      return await server.pool.getConnection();
    } catch (err) {
      throw toDbError(err, server.name);
    }
  }

  /**
   * Runs one statement with a deadline. A connection that failed or timed out is
   * destroyed rather than returned to the pool: its protocol state is unknown.
   */
  async function statement<T>(server: Server, conn: PoolConnection, run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DbTimeoutError(`database ${server.name} did not answer within ${queryTimeoutMs} ms`, {
              server: server.name,
            }),
          ),
        queryTimeoutMs,
      );
    });
    try {
      return await Promise.race([run(), deadline]);
    } catch (err) {
      const dbErr = toDbError(err, server.name);
      if (isConnectionFailure(dbErr)) conn.destroy();
      throw dbErr;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Releases a connection unless `statement` already destroyed it. */
  function release(conn: PoolConnection, err?: unknown): void {
    if (err !== undefined && isConnectionFailure(err)) return;
    conn.release();
  }

  async function readOn<T>(
    server: Server,
    sql: string,
    params: SqlParam[],
    minGtid?: string,
  ): Promise<T[] | typeof GTID_WAIT_TIMEOUT> {
    const conn = await acquire(server);
    try {
      if (minGtid !== undefined) {
        const [waited] = await statement(server, conn, () =>
          conn.execute<RowDataPacket[]>('SELECT MASTER_GTID_WAIT(?, ?) AS w', [minGtid, gtidWaitSeconds]),
        );
        // 0 = applied; -1 = timed out; NULL on error. Anything but 0 → primary.
        if (Number(waited[0]?.w) !== 0) {
          conn.release();
          return GTID_WAIT_TIMEOUT;
        }
      }
      const [rows] = await statement(server, conn, () => conn.execute<RowDataPacket[]>(sql, params));
      conn.release();
      return rows as unknown as T[];
    } catch (err) {
      release(conn, err);
      throw err;
    }
  }

  function pickReplica(tried: Set<Replica>): Replica | undefined {
    for (let i = 0; i < replicas.length; i++) {
      const replica = replicas[(nextReplica + i) % replicas.length];
      if (replica && replica.health.healthy && !tried.has(replica)) {
        nextReplica = (nextReplica + i + 1) % replicas.length;
        return replica;
      }
    }
    return undefined;
  }

  function eject(replica: Replica, err: unknown): void {
    // Concurrent reads may all fail on the same outage: count it once.
    if (!replica.health.healthy || closed) return;
    const message = err instanceof Error ? err.message : String(err);
    const delay = replica.health.fail(Date.now(), message);
    emit({ kind: 'replica-ejected', server: replica.name, error: message, retryInMs: delay });
    scheduleProbe(replica, delay);
  }

  function scheduleProbe(replica: Replica, delay: number): void {
    clearTimeout(replica.probe);
    replica.probe = setTimeout(() => void probe(replica), delay);
    replica.probe.unref();
  }

  async function probe(replica: Replica): Promise<void> {
    replica.probe = undefined;
    if (closed) return;
    try {
      await readOn(replica, 'SELECT 1', []);
      if (replica.health.succeed()) emit({ kind: 'replica-restored', server: replica.name });
    } catch (err) {
      if (closed) return;
      const message = err instanceof Error ? err.message : String(err);
      scheduleProbe(replica, replica.health.fail(Date.now(), message));
    }
  }

  const inFlight = new Map<string, Promise<ReadResult<unknown>>>();

  function read<T = RowDataPacket>(
    sql: string,
    params: SqlParam[] = [],
    readOptions: ReadOptions = {},
  ): Promise<ReadResult<T>> {
    if (options.coalesceReads === false || readOptions.minGtid !== undefined || readOptions.primary) {
      return readNow<T>(sql, params, readOptions);
    }
    const key = `${sql}\u0000${JSON.stringify(params)}`;
    const joined = inFlight.get(key);
    if (joined) return joined as Promise<ReadResult<T>>;
    const started = readNow<T>(sql, params, readOptions).finally(() => inFlight.delete(key));
    inFlight.set(key, started);
    return started;
  }

  async function readNow<T>(sql: string, params: SqlParam[], readOptions: ReadOptions): Promise<ReadResult<T>> {
    const { minGtid } = readOptions;
    if (minGtid !== undefined && !isGtidPosition(minGtid)) {
      throw new TypeError(`minGtid is not a GTID position: ${JSON.stringify(minGtid.slice(0, 80))}`);
    }
    const tried = new Set<Replica>();
    for (let attempt = 0; attempt < (readOptions.primary ? 0 : replicas.length); attempt++) {
      const replica = pickReplica(tried);
      if (!replica) break;
      tried.add(replica);
      try {
        const rows = await readOn<T>(replica, sql, params, minGtid);
        if (rows !== GTID_WAIT_TIMEOUT) return { rows, server: replica.name, role: 'replica' };
        emit({ kind: 'read-fallback', from: replica.name, to: primary.name, reason: 'gtid-wait-timeout' });
        break;
      } catch (err) {
        if (!isConnectionFailure(err)) throw err;
        eject(replica, err);
        emit({ kind: 'read-fallback', from: replica.name, to: primary.name, reason: 'failure' });
      }
    }
    // The primary has every acknowledged write: no GTID wait there.
    const rows = (await readOn<T>(primary, sql, params)) as T[];
    return { rows, server: primary.name, role: 'primary' };
  }

  /**
   * The write's GTID: from the OK packet when the server tracks it, else asked on the
   * same connection (a server without `session_track_system_variables=last_gtid`).
   * Once the server has been seen tracking, a missing value means the statement wrote
   * nothing to the binlog, so no extra round trip is spent on it.
   */
  async function gtidOf(conn: PoolConnection, header: ResultSetHeader): Promise<string | null> {
    const tracked = trackedLastGtid(header);
    if (tracked !== null) serverTracksGtid = true;
    if (tracked !== null || serverTracksGtid) return tracked;
    const [rows] = await statement(primary, conn, () => conn.query<RowDataPacket[]>('SELECT @@last_gtid AS g'));
    const value = rows[0]?.g;
    return typeof value === 'string' && value !== '' ? value : null;
  }

  async function write(sql: string, params: SqlParam[] = []): Promise<WriteResult> {
    const conn = await acquire(primary);
    try {
      const [result] = await statement(primary, conn, () => conn.execute<ResultSetHeader>(sql, params));
      const gtid = await gtidOf(conn, result);
      conn.release();
      return { result, gtid };
    } catch (err) {
      release(conn, err);
      throw err;
    }
  }

  async function transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<{ value: T; gtid: string | null }> {
    const conn = await acquire(primary);
    const tx: Tx = {
      read: async <R = RowDataPacket>(sql: string, params: SqlParam[] = []) => {
        const [rows] = await statement(primary, conn, () => conn.execute<RowDataPacket[]>(sql, params));
        return rows as unknown as R[];
      },
      write: async (sql: string, params: SqlParam[] = []) => {
        const [result] = await statement(primary, conn, () => conn.execute<ResultSetHeader>(sql, params));
        return result;
      },
    };
    try {
      await statement(primary, conn, () => conn.query('START TRANSACTION'));
      let value: T;
      try {
        value = await fn(tx);
      } catch (err) {
        if (!isConnectionFailure(err)) await statement(primary, conn, () => conn.query('ROLLBACK'));
        throw err;
      }
      const [commit] = await statement(primary, conn, () => conn.query<ResultSetHeader>('COMMIT'));
      const gtid = await gtidOf(conn, commit);
      conn.release();
      return { value, gtid };
    } catch (err) {
      release(conn, err);
      throw err;
    }
  }

  /** `SELECT 1` on a health connection, bounded by `healthTimeoutMs` from start to answer. */
  async function ping(server: Server): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    let conn: PoolConnection | undefined;
    let timedOut = false;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(
          new DbTimeoutError(`database ${server.name} did not answer a ping within ${healthTimeoutMs} ms`, {
            server: server.name,
          }),
        );
      }, healthTimeoutMs);
    });
    const attempt = (async () => {
      const c = await server.healthPool.getConnection();
      // A connection handed over after the deadline is given back at once.
      if (timedOut) return void c.release();
      conn = c;
      await c.query('SELECT 1');
    })();
    try {
      await Promise.race([attempt, deadline]);
      conn?.release();
      return undefined;
    } catch (err) {
      // Its state is unknown (maybe still waiting for the answer): never reuse it.
      conn?.destroy();
      attempt.catch(() => {});
      return err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(timer);
    }
  }

  async function health(): Promise<DbHealth> {
    const [primaryError, ...replicaErrors] = await Promise.all([primary, ...replicas].map(ping));
    const replicaHealth = replicas.map((replica, i) => {
      const error = replicaErrors[i];
      if (error !== undefined) eject(replica, new Error(error));
      else if (replica.health.succeed()) {
        clearTimeout(replica.probe);
        emit({ kind: 'replica-restored', server: replica.name });
      }
      return {
        server: replica.name,
        host: replica.host,
        healthy: error === undefined,
        ...(error !== undefined ? { error } : {}),
      };
    });
    return {
      primary: {
        server: primary.name,
        ok: primaryError === undefined,
        ...(primaryError !== undefined ? { error: primaryError } : {}),
      },
      replicas: replicaHealth,
    };
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    for (const replica of replicas) clearTimeout(replica.probe);
    await Promise.allSettled([primary, ...replicas].flatMap((s) => [s.pool.end(), s.healthPool.end()]));
  }

  return { read, write, transaction, health, close };
}
