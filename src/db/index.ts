export { createDb } from './client.ts';
export type { DbErrorCode } from './errors.ts';
export {
  DbClosedError,
  DbError,
  DbQueryError,
  DbReadOnlyError,
  DbTimeoutError,
  DbTwoWritableError,
  DbUnavailableError,
  isConnectionFailure,
} from './errors.ts';
export { isGtidPosition } from './gtid.ts';
export type {
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
