import type { ResultSetHeader, RowDataPacket } from 'mysql2';

/** One MariaDB server. */
export interface DbEndpoint {
  host: string;
  /** @default 3306 */
  port?: number;
}

export interface DbOptions {
  /**
   * Every database node, in preference order. The client finds the primary among them
   * by itself (the only node with `read_only = 0`) and follows a failover without a
   * restart; the others are the read replicas. @default [primary, ...replicas]
   */
  nodes?: DbEndpoint[];
  /**
   * The initial guess of the server that takes writes (reads may go there before the
   * first probe answers); writes go only where a probe found `read_only = 0`.
   * @default nodes[0]; one of `primary` and `nodes` is required
   */
  primary?: DbEndpoint;
  /** The initial guess of the servers that take reads. @default every other node (none: reads go to the primary) */
  replicas?: DbEndpoint[];
  /**
   * How long a write waits for a writable primary: while none (or two) is known, and to
   * retry a write the old primary refused (read-only, connection refused) on the new one.
   * @default 3000
   */
  failoverWaitMs?: number;
  /**
   * How often every node is asked whether it is writable; 0: only at start and on failed
   * writes. Writes sent to a primary whose host died wait on it until this round notices
   * it silent (this period plus `primaryProbeTimeoutMs`). @default 250
   */
  primaryProbeIntervalMs?: number;
  /** Time one node may take to answer that probe. @default 500 */
  primaryProbeTimeoutMs?: number;
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
  | { kind: 'read-fallback'; from: string; to: string; reason: 'failure' | 'gtid-wait-timeout' }
  /** A probe found `server` writable (`previous`: the primary before, if another or none was known). */
  | { kind: 'primary-found'; server: string; previous: string | undefined }
  /** A probe found no writable node: writes wait (up to `failoverWaitMs`) for one. */
  | { kind: 'primary-unknown'; previous: string | undefined; reason: string }
  /** A probe found several writable nodes: the client writes to none of them. */
  | { kind: 'primary-conflict'; servers: string[] }
  /** A write that `server` did not execute (read-only, connection refused) runs again on the primary found next. */
  | { kind: 'write-retried'; server: string; attempt: number; error: string };

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
  /** The primary now (the last one found while none is): `ok` when it is writable and answers. */
  primary: { server: string; ok: boolean; error?: string };
  /**
   * `found`: one node is writable; `unknown`: none is (a failover, or every node down);
   * `two-writable`: several are, and the client writes to none of them.
   */
  primaryState: 'found' | 'unknown' | 'two-writable';
  /** Every node's answer to the last primary probe. */
  nodes: { server: string; readOnly?: boolean; error?: string }[];
  /** `lagMs`: how far behind the primary the replica is at least, when it answered. */
  replicas: { server: string; host: string; healthy: boolean; error?: string; lagMs?: number }[];
}

export interface Db {
  write(sql: string, params?: SqlParam[]): Promise<WriteResult>;
  /**
   * Runs `fn` in a transaction on the primary. When the primary refused it before any of
   * its writes executed (read-only, connection refused), `fn` runs again on the new primary.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<{ value: T; gtid: string | null }>;
  read<T = RowDataPacket>(sql: string, params?: SqlParam[], options?: ReadOptions): Promise<ReadResult<T>>;
  /**
   * Checks every server; a replica that does not answer, does not replicate or lags past
   * `maxReplicaLagMs` is ejected, one that passes is restored.
   */
  health(): Promise<DbHealth>;
  close(): Promise<void>;
}
