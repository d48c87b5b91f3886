import type { ResultSetHeader, RowDataPacket } from 'mysql2';

/** One MariaDB server. */
export interface DbEndpoint {
  host: string;
  /** @default 3306 */
  port?: number;
}

export interface DbOptions {
  /** The server that takes writes. */
  primary: DbEndpoint;
  /** Servers that take reads. @default [] (reads go to the primary) */
  replicas?: DbEndpoint[];
  user: string;
  password: string;
  database: string;
  /**
   * Source address for every connection. On loopback hosting a connection to 127.x.y.z
   * otherwise leaves from 127.0.0.1, so grants naming the app host's address would not match.
   */
  localAddress?: string;
  /** Connections per server. @default 10 */
  poolSize?: number;
  /** Time to establish a connection. @default 2000 */
  connectTimeoutMs?: number;
  /** Time a health ping (`db.health()`) may take, from asking for a connection to the answer. @default 1000 */
  healthTimeoutMs?: number;
  /** Time for one statement; past it the connection is destroyed. @default 5000 */
  queryTimeoutMs?: number;
  /**
   * A replica's connect timeout and its deadline per read (on top of a GTID wait): past
   * it the read goes to the primary and the replica is ejected. Short, so that a read on
   * a vanished replica (netns: packets dropped, nothing refused) falls back fast.
   * @default 500
   */
  replicaTimeoutMs?: number;
  /** How long a replica may wait in MASTER_GTID_WAIT before the read goes to the primary. @default 1000 */
  gtidWaitTimeoutMs?: number;
  /** First re-try delay of an ejected replica; doubles up to `maxBackoffMs`. @default 500 */
  minBackoffMs?: number;
  /** @default 10000 */
  maxBackoffMs?: number;
  /**
   * A replica further behind the primary than this is not read from until it catches up.
   * Measured by GTID positions (see replica-lag.ts), at the resolution of the checks.
   * @default 5000
   */
  maxReplicaLagMs?: number;
  /**
   * How often the client checks that its healthy replicas answer, replicate and lag less
   * than `maxReplicaLagMs` (ejected ones are probed with back-off); 0 turns the background
   * checks off, leaving `db.health()` and failed reads to eject. @default 1000
   */
  replicaCheckIntervalMs?: number;
  /**
   * Request collapsing: a read without `minGtid` that is identical (same SQL, same
   * parameters) to one already in flight joins it instead of running again, so a burst
   * of page views costs one query. The joined result is at most one query's latency
   * older than a fresh one; reads with `minGtid` or `primary` never join. Each joined
   * caller gets its own copy of the rows. @default true
   */
  coalesceReads?: boolean;
  /** Receives health changes; the client never logs by itself. */
  onEvent?: (event: DbEvent) => void;
}

export type DbEvent =
  | { kind: 'replica-ejected'; server: string; error: string; retryInMs: number }
  | { kind: 'replica-restored'; server: string }
  | { kind: 'read-fallback'; from: string; to: string; reason: 'failure' | 'gtid-wait-timeout' };

/** Values a statement may bind. */
export type SqlParam = string | number | bigint | boolean | Date | Buffer | null;

export interface ReadOptions {
  /**
   * Read-your-writes: a GTID position (`domain-server-seq`, comma separated for several
   * domains) the replica must have applied first; otherwise the read goes to the primary.
   */
  minGtid?: string;
  /** Read from the primary (fresh by definition), e.g. to check a credential or a unique key. */
  primary?: boolean;
}

export interface ReadResult<T> {
  rows: T[];
  /** `host:port` of the server that answered. */
  server: string;
  role: 'primary' | 'replica';
}

export interface WriteResult {
  result: ResultSetHeader;
  /** The session's `last_gtid` after the write; null when the statement wrote nothing to the binlog. */
  gtid: string | null;
}

/** Statements inside `db.transaction()`; all on one primary connection. */
export interface Tx {
  read<T = RowDataPacket>(sql: string, params?: SqlParam[]): Promise<T[]>;
  write(sql: string, params?: SqlParam[]): Promise<ResultSetHeader>;
}

export interface DbHealth {
  primary: { server: string; ok: boolean; error?: string };
  /** `lagMs`: how far behind the primary the replica is at least, when it answered. */
  replicas: { server: string; host: string; healthy: boolean; error?: string; lagMs?: number }[];
}

export interface Db {
  write(sql: string, params?: SqlParam[]): Promise<WriteResult>;
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<{ value: T; gtid: string | null }>;
  read<T = RowDataPacket>(sql: string, params?: SqlParam[], options?: ReadOptions): Promise<ReadResult<T>>;
  /**
   * Checks every server; a replica that does not answer, does not replicate or lags past
   * `maxReplicaLagMs` is ejected, one that passes is restored.
   */
  health(): Promise<DbHealth>;
  close(): Promise<void>;
}
