/**
 * The database client's error catalog. Every error carries a stable `code`; callers
 * (the app's error handler, the chaos checker) switch on the code, never the message.
 */

export type DbErrorCode =
  'DB_UNAVAILABLE' | 'DB_TIMEOUT' | 'DB_READ_ONLY' | 'DB_TWO_WRITABLE' | 'DB_QUERY' | 'DB_CLOSED';

export class DbError extends Error {
  readonly code: DbErrorCode;
  /** The server that failed, as `host:port`, when one is known. */
  readonly server: string | undefined;

  constructor(code: DbErrorCode, message: string, options: { cause?: unknown; server?: string } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.server = options.server;
  }
}

/** No server could be reached (connection refused, reset, lost), or none is configured. */
export class DbUnavailableError extends DbError {
  constructor(message: string, options: { cause?: unknown; server?: string } = {}) {
    super('DB_UNAVAILABLE', message, options);
  }
}

/** A server did not answer in time; its connection was destroyed. */
export class DbTimeoutError extends DbError {
  constructor(message: string, options: { cause?: unknown; server?: string } = {}) {
    super('DB_TIMEOUT', message, options);
  }
}

/**
 * The "primary" refused a write because it is `read_only` (ER_OPTION_PREVENTS_STATEMENT,
 * 1290; or 1792 in a read-only transaction): it has been demoted, or a failover is under
 * way. The statement was not executed.
 */
export class DbReadOnlyError extends DbError {
  constructor(message: string, options: { cause?: unknown; server?: string } = {}) {
    super('DB_READ_ONLY', message, options);
  }
}

/**
 * More than one node answered `read_only = 0`: the client writes to neither until a probe
 * finds exactly one (fencing should make this impossible; the client does not guess).
 */
export class DbTwoWritableError extends DbError {
  readonly servers: readonly string[];

  constructor(servers: readonly string[]) {
    super(
      'DB_TWO_WRITABLE',
      `refusing to write: ${servers.length} database nodes are writable (${servers.join(', ')})`,
    );
    this.servers = servers;
  }
}

/** The server answered with an SQL error (syntax, duplicate key, constraint...). */
export class DbQueryError extends DbError {
  /** MariaDB's symbolic error, e.g. `ER_DUP_ENTRY`. */
  readonly sqlCode: string | undefined;
  /** MariaDB's numeric error, e.g. 1062. */
  readonly errno: number | undefined;
  readonly sqlState: string | undefined;

  constructor(
    message: string,
    options: { cause?: unknown; server?: string; sqlCode?: string; errno?: number; sqlState?: string } = {},
  ) {
    super('DB_QUERY', message, options);
    this.sqlCode = options.sqlCode;
    this.errno = options.errno;
    this.sqlState = options.sqlState;
  }
}

/** The client was closed. */
export class DbClosedError extends DbError {
  constructor() {
    super('DB_CLOSED', 'the database client is closed');
  }
}

/** Errors that mean "this server is unusable right now", as opposed to "this SQL is wrong". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EADDRNOTAVAIL',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
  'ER_CANT_CREATE_THREAD',
  'ER_OUT_OF_RESOURCES',
]);

/** The server refused the statement because it (or the transaction) is read-only. */
const READ_ONLY_CODES = new Set(['ER_OPTION_PREVENTS_STATEMENT', 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION']);

interface DriverError {
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
  fatal?: unknown;
  message?: unknown;
}

/** True when a driver error means the server (or the link to it) failed. */
export function isConnectionFailure(err: unknown): boolean {
  if (err instanceof DbUnavailableError || err instanceof DbTimeoutError) return true;
  if (err instanceof DbError) return false;
  const e = (err ?? {}) as DriverError;
  if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  // mysql2 marks errors after which the connection is unusable as fatal.
  return e.fatal === true;
}

/** Turns whatever mysql2 threw into one of the catalog's errors. */
export function toDbError(err: unknown, server: string): DbError {
  if (err instanceof DbError) return err;
  const e = (err ?? {}) as DriverError;
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (isConnectionFailure(err)) {
    return new DbUnavailableError(`database ${server} unavailable: ${message}`, { cause: err, server });
  }
  if (READ_ONLY_CODES.has(String(e.code)) || e.errno === 1290 || e.errno === 1792) {
    return new DbReadOnlyError(`database ${server} refused the write (read_only): ${message}`, { cause: err, server });
  }
  return new DbQueryError(message, {
    cause: err,
    server,
    sqlCode: typeof e.code === 'string' ? e.code : undefined,
    errno: typeof e.errno === 'number' ? e.errno : undefined,
    sqlState: typeof e.sqlState === 'string' ? e.sqlState : undefined,
  });
}

/** What a write (or transaction) had done when it failed. */
export interface WriteProgress {
  /** A data-changing statement (or COMMIT) was sent: it may have taken effect. */
  sent: boolean;
  /** A data-changing statement succeeded on the connection (inside a transaction). */
  applied: boolean;
}

/**
 * True when a failed write certainly did not take effect, so it may run again on the
 * primary found next: the node refused it as read-only (before anything was applied), no
 * writable primary was known, or the connection failed before the statement was sent
 * (or was refused, which cannot happen after sending). A connection that broke after
 * sending leaves the outcome unknown: that error goes to the caller.
 */
export function mayRetryWrite(err: unknown, progress: WriteProgress): boolean {
  if (err instanceof DbReadOnlyError) return !progress.applied;
  if (err instanceof DbTwoWritableError) return true;
  if (!isConnectionFailure(err)) return false;
  if (!progress.sent) return true;
  const cause = err instanceof DbError ? err.cause : err;
  return (cause as DriverError | undefined)?.code === 'ECONNREFUSED';
}
