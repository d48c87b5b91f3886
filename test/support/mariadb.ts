/**
 * A throwaway MariaDB 10.11 cluster for integration tests: one primary and one GTID
 * replica on loopback addresses, each with its own defaults file, datadir, socket and
 * pid file under a temporary folder. Processes are tracked by PID and killed by PID.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const MARIADBD = '/usr/sbin/mariadbd';

export interface NodeSpec {
  address: string;
  serverId: number;
  readOnly: boolean;
}

export class MariaNode {
  readonly dir: string;
  readonly cnf: string;
  readonly socket: string;
  readonly port = 3306;
  private child: ChildProcess | undefined;

  constructor(
    root: string,
    readonly name: string,
    readonly spec: NodeSpec,
  ) {
    this.dir = join(root, name);
    this.cnf = join(this.dir, 'my.cnf');
    this.socket = join(this.dir, 'mysqld.sock');
  }

  get address(): string {
    return this.spec.address;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  renderConfig(): string {
    const d = this.dir;
    return [
      '[mariadbd]',
      'user=root',
      `datadir=${join(d, 'data')}`,
      `socket=${this.socket}`,
      `pid-file=${join(d, 'mariadbd.pid')}`,
      `log-error=${join(d, 'error.log')}`,
      `bind-address=${this.spec.address}`,
      `port=${this.port}`,
      `server_id=${this.spec.serverId}`,
      `log_bin=${join(d, 'binlog', 'mariadb-bin')}`,
      `relay_log=${join(d, 'binlog', 'relay-bin')}`,
      'log_slave_updates=ON',
      'binlog_format=ROW',
      'gtid_strict_mode=ON',
      'session_track_system_variables=last_gtid',
      `read_only=${this.spec.readOnly ? 'ON' : 'OFF'}`,
      'skip-name-resolve',
      // Small and fast: a test cluster, not a durable one.
      'innodb_buffer_pool_size=32M',
      'innodb_log_file_size=16M',
      'innodb_flush_log_at_trx_commit=2',
      'sync_binlog=0',
      'performance_schema=OFF',
      '',
    ].join('\n');
  }

  async init(): Promise<void> {
    await mkdir(join(this.dir, 'binlog'), { recursive: true });
    await writeFile(this.cnf, this.renderConfig());
    // One retry on a fresh datadir: a run once failed under parallel load with no output.
    for (let attempt = 1; ; attempt++) {
      await rm(join(this.dir, 'data'), { recursive: true, force: true });
      await mkdir(join(this.dir, 'data'), { recursive: true });
      try {
        await execFileAsync(
          'mariadb-install-db',
          [`--defaults-file=${this.cnf}`, '--skip-test-db', '--auth-root-authentication-method=socket'],
          {
            timeout: 60_000,
          },
        );
        return;
      } catch (err) {
        if (attempt < 2) continue;
        const e = err as { stderr?: string; stdout?: string };
        throw new Error(
          `mariadb-install-db for ${this.name} failed:\n${e.stderr ?? ''}${e.stdout ?? ''}\n${this.logTail()}`,
          { cause: err },
        );
      }
    }
  }

  /** Starts mariadbd and waits (bounded) until it answers on its socket. */
  async start(timeoutMs = 30_000): Promise<void> {
    const log = openSync(join(this.dir, 'stderr.log'), 'a');
    const child = spawn(MARIADBD, [`--defaults-file=${this.cnf}`], { stdio: ['ignore', log, log] });
    closeSync(log);
    this.child = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; attempt < 600 && Date.now() < deadline; attempt++) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`mariadbd ${this.name} exited during start-up:\n${this.logTail()}`);
      }
      try {
        await this.sql('SELECT 1');
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`mariadbd ${this.name} did not answer within ${timeoutMs} ms:\n${this.logTail()}`);
  }

  /** SIGKILL by PID and wait for the exit. */
  async kill(): Promise<void> {
    await killChild(this.child);
  }

  /** Runs SQL as root over the unix socket; returns tab-separated rows. */
  async sql(statements: string): Promise<string> {
    const { stdout } = await execFileAsync(
      'mariadb',
      ['--no-defaults', `--socket=${this.socket}`, '-uroot', '--batch', '--skip-column-names', '-e', statements],
      { timeout: 15_000 },
    );
    return stdout.trim();
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(join(this.dir, 'error.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no error log)';
    }
  }
}

/** Every mariadbd started by this process, killed on exit even when a test forgot. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface ClusterOptions {
  primaryAddress: string;
  replicaAddress: string;
  database: string;
  user: string;
  password: string;
  /** Grant host pattern for the app user, e.g. `127.61.1.%`. */
  userHost: string;
}

export interface Cluster {
  root: string;
  primary: MariaNode;
  replica: MariaNode;
  options: ClusterOptions;
  /** Waits until the replica has applied the primary's current binlog position. */
  waitForReplica(timeoutMs?: number): Promise<void>;
  /** Stops the replica's SQL thread: replication stopped (the db client ejects such a replica). */
  pauseReplication(): Promise<void>;
  resumeReplication(): Promise<void>;
  /**
   * Makes the replica apply each event `seconds` after the primary wrote it
   * (MASTER_DELAY): a lagging replica whose threads run. 0 ends the delay. Replication
   * restarts, so it briefly reports not running.
   */
  delayReplication(seconds: number): Promise<void>;
  destroy(): Promise<void>;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const root = await mkdtemp(join(tmpdir(), 'tandem-mariadb-'));
  const primary = new MariaNode(root, 'primary', { address: options.primaryAddress, serverId: 1, readOnly: false });
  const replica = new MariaNode(root, 'replica', { address: options.replicaAddress, serverId: 2, readOnly: true });
  const destroy = async (): Promise<void> => {
    await Promise.allSettled([primary.kill(), replica.kill()]);
    await rm(root, { recursive: true, force: true });
  };
  try {
    // allSettled: never leave one node starting while the other's failure tears down.
    await settleAll([primary.init(), replica.init()]);
    await settleAll([primary.start(), replica.start()]);
    const q = (s: string): string => `'${s.replace(/'/g, "''")}'`;
    await primary.sql(
      [
        `CREATE DATABASE ${options.database}`,
        `CREATE USER 'repl'@'127.%' IDENTIFIED BY 'repl-pass'`,
        `GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.%'`,
        `CREATE USER ${q(options.user)}@${q(options.userHost)} IDENTIFIED BY ${q(options.password)}`,
        `GRANT ALL ON ${options.database}.* TO ${q(options.user)}@${q(options.userHost)}`,
      ].join(';'),
    );
    await replica.sql(
      [
        `CHANGE MASTER TO MASTER_HOST='${options.primaryAddress}', MASTER_PORT=${primary.port}, MASTER_USER='repl', MASTER_PASSWORD='repl-pass', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`,
        'START SLAVE',
      ].join(';'),
    );
    const cluster: Cluster = {
      root,
      primary,
      replica,
      options,
      async waitForReplica(timeoutMs = 15_000) {
        const pos = await primary.sql('SELECT @@gtid_binlog_pos');
        if (pos === '') return;
        const seconds = timeoutMs / 1000;
        const result = await replica.sql(`SELECT MASTER_GTID_WAIT('${pos}', ${seconds})`);
        if (result !== '0') throw new Error(`replica did not reach ${pos} within ${timeoutMs} ms`);
      },
      async pauseReplication() {
        await replica.sql('STOP SLAVE SQL_THREAD');
      },
      async resumeReplication() {
        await replica.sql('START SLAVE SQL_THREAD');
      },
      async delayReplication(seconds) {
        await replica.sql(`STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=${Math.trunc(seconds)}; START SLAVE`);
      },
      destroy,
    };
    await cluster.waitForReplica();
    return cluster;
  } catch (err) {
    await destroy();
    throw err;
  }
}

async function settleAll(work: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(work);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/** SIGKILL a child we started, by its PID, and wait (bounded) for its exit. */
export async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await Promise.race([exited, sleep(10_000, { unref: true })]);
}

export function sleep(ms: number, options: { unref?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (options.unref) timer.unref();
  });
}

/** Polls `check` until it returns true; bounded by attempts and time. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < Math.ceil(timeoutMs / intervalMs) + 1 && Date.now() < deadline; attempt++) {
    if (await check()) return;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
