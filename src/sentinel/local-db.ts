/**
 * The sentinel's hands on its own MariaDB: root over the unix socket (unix_socket auth),
 * every statement bounded by a deadline so a hung server cannot stall a tick. Values go
 * through mysql2's placeholders.
 */
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { SemiSyncState } from './decide.ts';

export interface DbObservation {
  readonly readOnly: boolean;
  readonly gtidBinlogPos: string;
  readonly gtidBinlogState: string;
  readonly gtidSlavePos: string;
  readonly pidFile: string;
  readonly semiSlaveEnabled: boolean;
  readonly semi: SemiSyncState;
  readonly slave: {
    readonly configured: boolean;
    readonly masterHost: string;
    readonly masterPort: number;
    readonly ioRunning: boolean;
    readonly sqlRunning: boolean;
    /** `Last_SQL_Errno`: 0 unless the SQL thread stopped on an error. */
    readonly sqlErrno: number;
    readonly gtidIoPos: string;
    readonly lagS: number | null;
    readonly lastError: string;
  };
}

/** Errors that mean nothing listens on the socket: the server is down, not slow. */
const REFUSED = new Set(['ECONNREFUSED', 'ENOENT']);

export class DbTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = 'DbTimeout';
  }
}

export function isRefused(err: unknown): boolean {
  return REFUSED.has((err as { code?: string }).code ?? '');
}

export class LocalDb {
  private conn: Connection | null = null;
  private connId = 0;
  private pidFile: string | undefined;

  constructor(
    private readonly socket: string,
    pidFile?: string,
  ) {
    this.pidFile = pidFile;
  }

  async observe(timeoutMs: number): Promise<DbObservation> {
    const [vars] = await this.query<RowDataPacket[]>(
      `SELECT @@read_only AS ro, @@gtid_binlog_pos AS binlogPos, @@gtid_binlog_state AS binlogState,
        @@gtid_slave_pos AS slavePos, @@pid_file AS pidFile, @@rpl_semi_sync_master_enabled AS masterOn,
        @@rpl_semi_sync_slave_enabled AS slaveOn`,
      [],
      timeoutMs,
    );
    const [slaveRows] = await this.query<RowDataPacket[]>('SHOW SLAVE STATUS', [], timeoutMs);
    const [statusRows] = await this.query<RowDataPacket[]>(
      `SHOW GLOBAL STATUS WHERE Variable_name IN
        ('Rpl_semi_sync_master_status', 'Rpl_semi_sync_master_clients', 'Rpl_semi_sync_master_wait_sessions')`,
      [],
      timeoutMs,
    );
    const v = vars[0]!;
    const status = new Map(statusRows.map((r) => [String(r.Variable_name), String(r.Value)]));
    const s = slaveRows[0];
    this.pidFile ??= String(v.pidFile);
    return {
      readOnly: Number(v.ro) === 1,
      gtidBinlogPos: String(v.binlogPos ?? ''),
      gtidBinlogState: String(v.binlogState ?? ''),
      gtidSlavePos: String(v.slavePos ?? ''),
      pidFile: String(v.pidFile),
      semiSlaveEnabled: Number(v.slaveOn) === 1,
      semi: {
        enabled: Number(v.masterOn) === 1,
        on: status.get('Rpl_semi_sync_master_status') === 'ON',
        clients: Number(status.get('Rpl_semi_sync_master_clients') ?? 0),
        waitSessions: Number(status.get('Rpl_semi_sync_master_wait_sessions') ?? 0),
      },
      slave: {
        configured: s !== undefined,
        masterHost: String(s?.Master_Host ?? ''),
        masterPort: Number(s?.Master_Port ?? 0),
        ioRunning: s?.Slave_IO_Running === 'Yes',
        sqlRunning: s?.Slave_SQL_Running === 'Yes',
        sqlErrno: Number(s?.Last_SQL_Errno ?? 0),
        gtidIoPos: String(s?.Gtid_IO_Pos ?? ''),
        lagS: s?.Seconds_Behind_Master === null || s === undefined ? null : Number(s.Seconds_Behind_Master),
        lastError: [s?.Last_IO_Error, s?.Last_SQL_Error].filter(Boolean).join('; '),
      },
    };
  }

  /**
   * Stops every write: kills the client connections (a commit waiting for a semi-sync
   * acknowledgement blocks `read_only` behind it), then sets `read_only`, then kills
   * what connected in between. When that does not finish within `timeoutMs`, SIGKILLs
   * the server by the pid in its pid file.
   *
   * When a commit is waiting for an acknowledgement, the server is SIGKILLed at once
   * instead: that transaction is already in the binlog, and killing its connection
   * would commit it here alone (never acknowledged, but an errant transaction that
   * keeps this database from rejoining the new primary: measured once on netns in a
   * partition). Killed, it stays prepared, and crash recovery as a replica
   * (`init_rpl_role = SLAVE`) rolls it back and cuts it from the binlog.
   */
  async fence(timeoutMs: number): Promise<'read-only' | 'killed' | 'down'> {
    const work = (async () => {
      const conn = await this.connect(timeoutMs);
      try {
        if ((await ackWaiters(conn)) > 0) throw new AckWaiters();
        await killClients(conn, this.connId);
        await conn.query('SET GLOBAL read_only=ON');
        await killClients(conn, this.connId);
      } finally {
        conn.destroy();
      }
    })();
    try {
      await withDeadline(work, timeoutMs, 'fence');
      return 'read-only';
    } catch (err) {
      work.catch(() => {});
      if (isRefused(err)) return 'down';
      return this.killServer() ? 'killed' : 'down';
    }
  }

  /** SIGKILL mariadbd by the pid in its pid file; false when there is none to kill. */
  killServer(): boolean {
    if (!this.pidFile) return false;
    try {
      const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 1) return false;
      process.kill(pid, 'SIGKILL');
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Makes the replica the primary: stop receiving, apply everything received (the
   * semi-sync acknowledgement means received, not applied), forget the old primary.
   * The caller then sets `read_only=OFF`. Semi-sync stays off until a replica connects
   * (the loop turns it on).
   *
   * Stopping the IO thread of a semi-sync replica opens a connection to the old primary
   * to kill its dump thread, and when that host is dead or cut off the statement waits
   * for the connect to time out (`rpl_semi_sync_slave_kill_conn_timeout`; 1–2 s measured
   * on netns, whatever that setting is, and whether semi-sync was turned off before).
   * So the stop runs on a connection of its own and is not waited for beyond
   * `STOP_IO_WAIT_MS`: by then the IO thread has left its read loop (it is killed
   * first), so what it received is final, and the old primary can acknowledge nothing
   * more anyway, being fenced (its lease expired) or dead. The relay log is applied up
   * to there; `STOP SLAVE` and `RESET SLAVE ALL` follow in the background once the stop
   * returns (`settled`), since they wait for it.
   *
   * `startSqlThread`: the SQL thread was paused by a backup (the sentinel claimed the
   * pause): it is started first, as `MASTER_GTID_WAIT` needs it applying, and before the
   * IO thread's stop, which it could otherwise wait behind.
   */
  async promote(
    applyTimeoutS: number,
    startSqlThread = false,
  ): Promise<{ steps: Record<string, number>; settled: Promise<void> | null }> {
    const steps: Record<string, number> = {};
    let settled: Promise<void> | null = null;
    let last = performance.now();
    const lap = (name: string) => {
      const now = performance.now();
      steps[name] = Math.round(now - last);
      last = now;
    };
    const [rows] = await this.query<RowDataPacket[]>('SHOW SLAVE STATUS', [], 2000);
    if (rows[0] !== undefined) {
      if (startSqlThread) {
        await this.query('START SLAVE SQL_THREAD', [], 5000);
        lap('startSql');
      }
      await this.query(
        'SET GLOBAL rpl_semi_sync_slave_enabled=OFF, GLOBAL rpl_semi_sync_slave_kill_conn_timeout=1',
        [],
        2000,
      );
      lap('semiSyncOff');
      const stopping = this.onOwnConnection(['STOP SLAVE IO_THREAD'], 10_000);
      const stopped = await settlesWithin(stopping, STOP_IO_WAIT_MS);
      lap(stopped ? 'stopIo' : 'stopIoStarted');
      const [again] = await this.query<RowDataPacket[]>('SHOW SLAVE STATUS', [], 2000);
      const received = String(again[0]?.Gtid_IO_Pos ?? '');
      if (received !== '') {
        const [waited] = await this.query<RowDataPacket[]>(
          'SELECT MASTER_GTID_WAIT(?, ?) AS w',
          [received, applyTimeoutS],
          applyTimeoutS * 1000 + 2000,
        );
        if (Number(waited[0]?.w) !== 0) {
          throw new Error(`the relay log was not applied up to ${received} within ${applyTimeoutS} s`);
        }
      }
      lap('relayApplied');
      if (stopped) {
        await this.resetReplication();
        lap('reset');
      } else {
        settled = stopping.then(() => this.resetReplication());
      }
    }
    await this.query(
      `SET GLOBAL rpl_semi_sync_slave_enabled=OFF, GLOBAL rpl_semi_sync_master_timeout=4294967295,
        GLOBAL rpl_semi_sync_master_wait_no_slave=ON, GLOBAL rpl_semi_sync_master_enabled=OFF`,
      [],
      2000,
    );
    lap('semiSyncMaster');
    return { steps, settled };
  }

  /** Forgets the old primary (on a connection of its own: `STOP SLAVE` can wait on a dead host). */
  resetReplication(): Promise<void> {
    return this.onOwnConnection(['STOP SLAVE', 'RESET SLAVE ALL'], 10_000);
  }

  /** A new root connection over the socket (unix_socket auth), within `timeoutMs`. */
  private connect(timeoutMs: number): Promise<Connection> {
    return withDeadline(
      mysql.createConnection({ socketPath: this.socket, user: 'root', connectTimeout: timeoutMs }),
      timeoutMs,
      'connect',
    );
  }

  /** Runs statements in order on a connection opened for them, then closes it. */
  private async onOwnConnection(statements: readonly string[], timeoutMs: number): Promise<void> {
    const conn = await this.connect(timeoutMs);
    try {
      for (const sql of statements) await withDeadline(conn.query(sql), timeoutMs, sql);
    } finally {
      conn.destroy();
    }
  }

  /** Makes this database a read-only GTID replica of `primary`, from its own binlog position. */
  async replicateFrom(
    primary: { address: string; port: number },
    user: string,
    password: string,
    gtidBinlogPos: string,
  ): Promise<void> {
    await this.query('SET GLOBAL read_only=ON', [], 2000);
    await this.query('SET GLOBAL rpl_semi_sync_master_enabled=OFF', [], 2000);
    // No kill connection to the old primary on the way (see promote): semi-sync off first.
    await this.query('SET GLOBAL rpl_semi_sync_slave_enabled=OFF', [], 2000);
    await this.query('STOP SLAVE', [], 5000);
    if (gtidBinlogPos !== '') await this.query('SET GLOBAL gtid_slave_pos=?', [gtidBinlogPos], 2000);
    await this.query(
      `CHANGE MASTER TO MASTER_HOST=?, MASTER_PORT=?, MASTER_USER=?, MASTER_PASSWORD=?,
        MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`,
      [primary.address, primary.port, user, password],
      2000,
    );
    await this.query('SET GLOBAL rpl_semi_sync_slave_enabled=ON', [], 2000);
    await this.query('START SLAVE', [], 5000);
  }

  /** `@@log_bin_basename`: the binlog files' path without their number. */
  async binlogBasename(timeoutMs: number): Promise<string> {
    const [rows] = await this.query<RowDataPacket[]>('SELECT @@log_bin_basename AS b', [], timeoutMs);
    return String(rows[0]?.b ?? '');
  }

  /**
   * A database restored from a backup takes the binlog state of the backup's point (its
   * binlog starts empty) and replicates from there. Only while nothing was binlogged since
   * it started: RESET MASTER first, which the fresh instance allows.
   */
  async restoreBinlogState(binlogState: string, slavePos: string, timeoutMs: number): Promise<void> {
    await this.query('RESET MASTER', [], timeoutMs);
    await this.query('SET GLOBAL gtid_binlog_state = ?', [binlogState], timeoutMs);
    await this.query('SET GLOBAL gtid_slave_pos = ?', [slavePos], timeoutMs);
  }

  /** Turns the replica side of semi-sync on; the IO thread registers it when it (re)connects. */
  async enableSemiSyncSlave(): Promise<void> {
    await this.query('SET GLOBAL rpl_semi_sync_slave_enabled=ON', [], 2000);
    await this.query('STOP SLAVE IO_THREAD', [], 5000);
    await this.query('START SLAVE IO_THREAD', [], 5000);
  }

  async setSemiSyncMaster(on: boolean): Promise<void> {
    await this.query(
      on
        ? 'SET GLOBAL rpl_semi_sync_master_timeout=4294967295, GLOBAL rpl_semi_sync_master_wait_no_slave=ON, GLOBAL rpl_semi_sync_master_enabled=ON'
        : 'SET GLOBAL rpl_semi_sync_master_enabled=OFF',
      [],
      2000,
    );
  }

  /**
   * Stops writes without ending anything: `read_only=ON` waits for the commits in
   * flight. False when it did not take within `timeoutMs` (a commit stuck, e.g. on an
   * acknowledgement that does not come).
   */
  demote(timeoutMs: number): Promise<boolean> {
    return this.setReadOnly(true, timeoutMs).then(
      () => true,
      () => false,
    );
  }

  async setReadOnly(on: boolean, timeoutMs = 2000): Promise<void> {
    await this.query(on ? 'SET GLOBAL read_only=ON' : 'SET GLOBAL read_only=OFF', [], timeoutMs);
  }

  close(): void {
    this.conn?.destroy();
    this.conn = null;
  }

  private async query<T extends RowDataPacket[] | unknown = unknown>(
    sql: string,
    values: unknown[],
    timeoutMs: number,
  ): Promise<[T]> {
    const conn = await this.connection(timeoutMs);
    try {
      const [rows] = await withDeadline(conn.query(sql, values), timeoutMs, sql.split(/\s/)[0] ?? 'query');
      return [rows as T];
    } catch (err) {
      // A timed-out or broken connection is thrown away; the next call opens a new one.
      if (err instanceof DbTimeout || (err as { fatal?: boolean }).fatal) this.close();
      throw err;
    }
  }

  private async connection(timeoutMs: number): Promise<Connection> {
    if (this.conn) return this.conn;
    const conn = await this.connect(timeoutMs);
    conn.on('error', () => {
      if (this.conn === conn) this.conn = null;
    });
    this.conn = conn;
    this.connId = conn.threadId ?? 0;
    return conn;
  }
}

/** Thrown inside the fence: commits wait for an acknowledgement, so the server is killed instead. */
class AckWaiters extends Error {}

/** Sessions whose commit waits for a semi-sync acknowledgement. */
async function ackWaiters(conn: Connection): Promise<number> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for semi-sync ACK%'`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Kills every client connection but `keep` and this one: replication and system threads stay. */
async function killClients(conn: Connection, keep: number): Promise<number> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT ID AS id FROM information_schema.PROCESSLIST
      WHERE ID <> CONNECTION_ID() AND ID <> ? AND USER NOT IN ('system user', 'event_scheduler')
        AND COMMAND NOT IN ('Binlog Dump', 'Daemon', 'Killed')`,
    [keep],
  );
  await Promise.all(rows.map((r) => conn.query(`KILL CONNECTION ${Number(r.id)}`).catch(() => {})));
  return rows.length;
}

/** How long a promotion waits for `STOP SLAVE IO_THREAD` before going on without it (see `promote`). */
const STOP_IO_WAIT_MS = 150;

/** True when `work` settled (either way) within `ms`; its rejection is observed either way. */
function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  const deadline = new DbTimeout('settle', ms);
  return withDeadline(work, ms, 'settle', deadline).then(
    () => true,
    (err: unknown) => err !== deadline,
  );
}

function withDeadline<T>(work: Promise<T>, ms: number, what: string, timeout = new DbTimeout(what, ms)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
