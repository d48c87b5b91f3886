/**
 * Writes and transactions: always on the primary, each returning the GTID the write
 * produced so that a later read can ask a replica to have applied it (read-your-writes).
 */
import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Server, Statements } from './connections.ts';
import { isConnectionFailure } from './errors.ts';
import { trackedLastGtid } from './gtid.ts';
import type { SqlParam, Tx, WriteResult } from './types.ts';

export class PrimaryWrites {
  /** The primary has been seen reporting `last_gtid` in OK packets. */
  private serverTracksGtid = false;

  constructor(
    private readonly statements: Statements,
    private readonly primary: Server,
  ) {}

  async write(sql: string, params: SqlParam[] = []): Promise<WriteResult> {
    const { statements, primary } = this;
    const conn = await statements.acquire(primary);
    try {
      const [result] = await statements.run(primary, conn, () => conn.execute<ResultSetHeader>(sql, params));
      const gtid = await this.gtidOf(conn, result);
      conn.release();
      return { result, gtid };
    } catch (err) {
      statements.release(conn, err);
      throw err;
    }
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<{ value: T; gtid: string | null }> {
    const { statements, primary } = this;
    const conn = await statements.acquire(primary);
    const tx: Tx = {
      read: async <R = RowDataPacket>(sql: string, params: SqlParam[] = []) => {
        const [rows] = await statements.run(primary, conn, () => conn.execute<RowDataPacket[]>(sql, params));
        return rows as unknown as R[];
      },
      write: async (sql: string, params: SqlParam[] = []) => {
        const [result] = await statements.run(primary, conn, () => conn.execute<ResultSetHeader>(sql, params));
        return result;
      },
    };
    try {
      await statements.run(primary, conn, () => conn.query('START TRANSACTION'));
      let value: T;
      try {
        value = await fn(tx);
      } catch (err) {
        if (!isConnectionFailure(err)) await statements.run(primary, conn, () => conn.query('ROLLBACK'));
        throw err;
      }
      const [commit] = await statements.run(primary, conn, () => conn.query<ResultSetHeader>('COMMIT'));
      const gtid = await this.gtidOf(conn, commit);
      conn.release();
      return { value, gtid };
    } catch (err) {
      statements.release(conn, err);
      throw err;
    }
  }

  /**
   * The write's GTID: from the OK packet when the server tracks it, else asked on the
   * same connection (a server without `session_track_system_variables=last_gtid`).
   * Once the server has been seen tracking, a missing value means the statement wrote
   * nothing to the binlog, so no extra round trip is spent on it.
   */
  private async gtidOf(conn: PoolConnection, header: ResultSetHeader): Promise<string | null> {
    const tracked = trackedLastGtid(header);
    if (tracked !== null) this.serverTracksGtid = true;
    if (tracked !== null || this.serverTracksGtid) return tracked;
    const [rows] = await this.statements.run(this.primary, conn, () =>
      conn.query<RowDataPacket[]>('SELECT @@last_gtid AS g'),
    );
    const value = rows[0]?.g;
    return typeof value === 'string' && value !== '' ? value : null;
  }
}
