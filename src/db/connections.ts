/**
 * Connections to one MariaDB server: its pools, and statements run with a deadline. A
 * connection that failed or timed out is destroyed rather than returned to its pool.
 */
import { connect, type Socket } from 'node:net';
import type { Pool, PoolConnection } from 'mysql2/promise';
import mysql from 'mysql2/promise';
import { DbClosedError, DbTimeoutError, isConnectionFailure, toDbError } from './errors.ts';
import type { DbEndpoint, DbOptions } from './types.ts';

/** One server as the client sees it. */
export interface Server {
  /** `host:port`, used in errors, events and health. */
  readonly name: string;
  readonly host: string;
  readonly pool: Pool;
  /** Two connections for health pings only (see `openServer`). */
  readonly healthPool: Pool;
}

/** A TCP stream factory for mysql2 that connects from `localAddress`. */
function boundStream(host: string, port: number, localAddress: string): () => Socket {
  return () => {
    const socket = connect({ host, port, localAddress });
    socket.setNoDelay(true);
    socket.once('connect', () => socket.setKeepAlive(true, 0));
    return socket;
  };
}

function openPool(endpoint: DbEndpoint, port: number, size: number, options: DbOptions): Pool {
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

export function openServer(endpoint: DbEndpoint, options: DbOptions): Server {
  const port = endpoint.port ?? 3306;
  return {
    name: `${endpoint.host}:${port}`,
    host: endpoint.host,
    pool: openPool(endpoint, port, options.poolSize ?? 10, options),
    // Health pings have their own two connections: a query pool saturated by writes
    // waiting on semi-sync must not make the server look dead to the load balancer.
    healthPool: openPool(endpoint, port, 2, options),
  };
}

/**
 * One database node, whichever role it has now: `writer` serves writes and primary reads;
 * `reader` serves replica reads with the short `replicaTimeoutMs` connect timeout, so a
 * read on a vanished replica falls back fast. Pools open connections only when used.
 */
export interface DbNode {
  readonly name: string;
  readonly writer: Server;
  readonly reader: Server;
}

export function openNode(endpoint: DbEndpoint, options: DbOptions, replicaTimeoutMs: number): DbNode {
  const writer = openServer(endpoint, options);
  const reader = openServer(endpoint, { ...options, connectTimeoutMs: replicaTimeoutMs });
  return { name: writer.name, writer, reader };
}

export async function closeServers(servers: readonly Server[]): Promise<void> {
  await Promise.allSettled(servers.flatMap((s) => [s.pool.end(), s.healthPool.end()]));
}

/** Acquires query connections and runs statements on them, each bounded by `timeoutMs`. */
export class Statements {
  /** Set by `Db.close()`: no connection is handed out afterwards. */
  closed = false;

  constructor(private readonly timeoutMs: number) {}

  async acquire(server: Server): Promise<PoolConnection> {
    if (this.closed) throw new DbClosedError();
    try {
      return await server.pool.getConnection();
    } catch (err) {
      throw toDbError(err, server.name);
    }
  }

  /**
   * Runs one statement with a deadline (`timeoutMs`, by default the client's). A connection that failed or timed out is
   * destroyed rather than returned to the pool: its protocol state is unknown.
   */
  async run<T>(
    server: Server,
    conn: PoolConnection,
    statement: () => Promise<T>,
    timeoutMs = this.timeoutMs,
  ): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DbTimeoutError(`database ${server.name} did not answer within ${timeoutMs} ms`, {
              server: server.name,
            }),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([statement(), deadline]);
    } catch (err) {
      const dbErr = toDbError(err, server.name);
      if (isConnectionFailure(dbErr)) conn.destroy();
      throw dbErr;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Releases a connection unless `run` already destroyed it. */
  release(conn: PoolConnection, err?: unknown): void {
    if (err !== undefined && isConnectionFailure(err)) return;
    conn.release();
  }
}
