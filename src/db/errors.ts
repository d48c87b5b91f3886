/**
 * The database client's error catalog. Every error carries a stable `code`; callers
 * (the app's error handler, the chaos checker) switch on the code, never the message.
 */

export type DbErrorCode = 'DB_UNAVAILABLE' | 'DB_TIMEOUT' | 'DB_READ_ONLY' | 'DB_QUERY' | 'DB_CLOSED';

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
 * The "primary" refused a write because it is `read_only` (ER_OPTION_PREVENTS_STATEMENT):
 * it has been demoted, or a failover is under way.
 */
export class DbReadOnlyError extends DbError {
  constructor(message: string, options: { cause?: unknown; server?: string } = {}) {
    super('DB_READ_ONLY', message, options);
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
  if (e.code === 'ER_OPTION_PREVENTS_STATEMENT' || e.errno === 1290) {
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
