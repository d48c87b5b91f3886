/**
 * Writes and transactions: always on the primary, each returning the GTID the write
 * produced so that a later read can ask a replica to have applied it (read-your-writes).
 * A write the primary certainly did not execute (refused as read-only, or its connection
 * refused) is retried on the primary found next, within `failoverWaitMs`.
 */
import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Server, Statements } from './connections.ts';
import { DbReadOnlyError, isConnectionFailure, mayRetryWrite, type WriteProgress } from './errors.ts';
import { trackedLastGtid } from './gtid.ts';
import { type PrimaryFinder, probeDelayMs } from './primary-finder.ts';
import type { DbEvent, SqlParam, Tx, WriteResult } from './types.ts';

export interface PrimaryWritesOptions {
  /** How long a write may wait for a writable primary, retries included. */
  failoverWaitMs: number;
  emit: (event: DbEvent) => void;
}

export class PrimaryWrites {
  /** The primary has been seen reporting `last_gtid` in OK packets. */
  private serverTracksGtid = false;

  constructor(
    private readonly statements: Statements,
    private readonly finder: PrimaryFinder,
    private readonly options: PrimaryWritesOptions,
  ) {}

  write(sql: string, params: SqlParam[] = []): Promise<WriteResult> {
    return this.onPrimary((server, progress) => this.writeOn(server, progress, sql, params));
  }

  /** `fn` runs again when the transaction is retried on a new primary (see `onPrimary`). */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<{ value: T; gtid: string | null }> {
    return this.onPrimary((server, progress) => this.transactionOn(server, progress, fn));
  }

  /**
   * Runs `work` on the primary; when it failed without effect (`mayRetryWrite`), probes
   * the nodes and runs it again on the primary found, until `failoverWaitMs` has passed.
   */
  private async onPrimary<T>(work: (server: Server, progress: WriteProgress) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.options.failoverWaitMs;
    for (let attempt = 1; ; attempt++) {
      const node = await this.finder.writable(deadline);
      const progress: WriteProgress = { sent: false, applied: false };
      try {
        return await work(node.writer, progress);
      } catch (err) {
        const failover = err instanceof DbReadOnlyError || isConnectionFailure(err);
        // Even a write that is not retried makes the next ones look for the primary.
        const round = failover ? this.finder.refresh() : undefined;
        if (round === undefined || !mayRetryWrite(err, progress) || Date.now() >= deadline) throw err;
        const error = err instanceof Error ? err.message : String(err);
        this.options.emit({ kind: 'write-retried', server: node.name, attempt, error });
        await round;
        if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, probeDelayMs(attempt - 2)));
      }
    }
  }

  private async writeOn(server: Server, progress: WriteProgress, sql: string, params: SqlParam[]) {
    const { statements } = this;
    const conn = await statements.acquire(server);
    progress.sent = true;
    try {
      const [result] = await statements.run(server, conn, () => conn.execute<ResultSetHeader>(sql, params));
      const gtid = await this.gtidOf(server, conn, result);
      conn.release();
      return { result, gtid };
    } catch (err) {
      statements.release(conn, err);
      throw err;
    }
  }

  private async transactionOn<T>(
    server: Server,
    progress: WriteProgress,
    fn: (tx: Tx) => Promise<T>,
  ): Promise<{ value: T; gtid: string | null }> {
    const { statements } = this;
    const conn = await statements.acquire(server);
    const tx: Tx = {
      read: async <R = RowDataPacket>(sql: string, params: SqlParam[] = []) => {
        const [rows] = await statements.run(server, conn, () => conn.execute<RowDataPacket[]>(sql, params));
        return rows as unknown as R[];
      },
      write: async (sql: string, params: SqlParam[] = []) => {
        progress.sent = true;
        const [result] = await statements.run(server, conn, () => conn.execute<ResultSetHeader>(sql, params));
        progress.applied = true;
        return result;
      },
    };
    let open = false;
    try {
      await statements.run(server, conn, () => conn.query('START TRANSACTION'));
      open = true;
      const value = await fn(tx);
      progress.sent = true;
      const [commit] = await statements.run(server, conn, () => conn.query<ResultSetHeader>('COMMIT'));
      open = false;
      const gtid = await this.gtidOf(server, conn, commit);
      conn.release();
      return { value, gtid };
    } catch (err) {
      // A connection that failed is destroyed (the server rolls back); otherwise the
      // transaction must not stay open on a connection going back to the pool.
      let last = err;
      if (open && !isConnectionFailure(err)) {
        await statements
          .run(server, conn, () => conn.query('ROLLBACK'))
          .catch((rollbackErr: unknown) => {
            last = rollbackErr;
          });
      }
      statements.release(conn, last);
      throw err;
    }
  }

  /**
   * The write's GTID: from the OK packet when the server tracks it, else asked on the
   * same connection (a server without `session_track_system_variables=last_gtid`).
   * Once the server has been seen tracking, a missing value means the statement wrote
   * nothing to the binlog, so no extra round trip is spent on it.
   */
  private async gtidOf(server: Server, conn: PoolConnection, header: ResultSetHeader): Promise<string | null> {
    const tracked = trackedLastGtid(header);
    if (tracked !== null) this.serverTracksGtid = true;
    if (tracked !== null || this.serverTracksGtid) return tracked;
    const [rows] = await this.statements.run(server, conn, () =>
      conn.query<RowDataPacket[]>('SELECT @@last_gtid AS g'),
    );
    const value = rows[0]?.g;
    return typeof value === 'string' && value !== '' ? value : null;
  }
}
