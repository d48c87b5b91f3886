/**
 * Database set-up and inspection: initialise data directories, create users,
 * attach replicas with GTID, turn on semi-sync once a replica is attached, run the
 * app's migrations, and read replication state. Admin SQL goes through the local
 * `mariadb` client on the instance's socket (root, unix_socket auth), fed on stdin
 * so no secret ever appears in a process list.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type ServicePaths, servicePaths } from '../config/paths.ts';
import { hostOf } from '../config/resolve.ts';
import type { Plan, PlanService } from '../config/types.ts';
import { mariadbEngine } from '../engines/mariadb.ts';
import { TandemError } from '../errors.ts';
import { inNamespace } from '../hosts/netns.ts';
import { run } from '../hosts/process.ts';
import { sleep } from '../hosts/supervise.ts';

export type Row = Record<string, string>;

/** Runs SQL as root over the instance's socket; returns rows of the last result. */
export async function sql(paths: ServicePaths, text: string, timeoutMs = 30_000): Promise<Row[]> {
  // With column names (no -N): the first line of the output names the columns.
  const argv = mariadbEngine.clientCommand(paths).filter((a) => a !== '-N');
  const { stdout } = await run(argv, { input: text, timeoutMs });
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  if (lines.length === 0) return [];
  const header = lines[0]!.split('\t');
  return lines.slice(1).map((line) => {
    const cells = line.split('\t');
    return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
  });
}

/**
 * mysql_native_password's stored form of a password ('*' + SHA1(SHA1(pw)) in hex).
 * Users are created `IDENTIFIED BY PASSWORD '<hash>'`, so the statement the binlog
 * keeps (and replicas relay) never holds the password itself.
 */
export function nativePasswordHash(password: string): string {
  const inner = createHash('sha1').update(password).digest();
  return `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
}

/** Single-quoted SQL string literal. Used only for values tandem generated itself. */
export function lit(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function isInitialised(paths: ServicePaths): boolean {
  return fs.existsSync(path.join(paths.data, 'mysql'));
}

/** mariadb-install-db into an empty data directory. Returns false when already done. */
export async function initialise(paths: ServicePaths): Promise<boolean> {
  if (isInitialised(paths)) return false;
  fs.rmSync(paths.data, { recursive: true, force: true });
  // master.info keeps the replication password: the data directory is root's alone.
  fs.mkdirSync(paths.data, { recursive: true, mode: 0o700 });
  await run(mariadbEngine.installCommand(paths), { timeoutMs: 120_000 });
  return true;
}

export async function pingable(paths: ServicePaths): Promise<boolean> {
  try {
    await sql(paths, 'SELECT 1', 3000);
    return true;
  } catch {
    return false;
  }
}

/** Addresses a host's client connections can come from (on loopback: also 127.0.0.1). */
function sourcesOf(plan: Plan, hostNames: readonly string[]): string[] {
  const addresses = hostNames.map((h) => hostOf(plan, h).address);
  if (plan.hosting === 'loopback') addresses.push('127.0.0.1');
  return [...new Set(addresses)];
}

/** Users and schema on the primary (idempotent; replicated to replicas through the binlog). */
export async function bootstrapPrimary(plan: Plan): Promise<boolean> {
  const paths = dbPaths(plan, plan.db.primary);
  const have = await sql(paths, "SELECT COUNT(*) AS n FROM mysql.user WHERE user LIKE 'tandem\\_%'");
  const appHosts = plan.hosts.filter((h) => h.roles.includes('app')).map((h) => h.name);
  const dbHosts = [plan.db.primary, ...plan.db.replicas];
  const { users, name } = plan.db;
  const s = plan.secrets;
  const statements: string[] = [`CREATE DATABASE IF NOT EXISTS \`${name}\``];
  for (const src of sourcesOf(plan, appHosts)) {
    statements.push(
      `CREATE USER IF NOT EXISTS ${lit(users.app)}@${lit(src)} IDENTIFIED BY PASSWORD ${lit(nativePasswordHash(s.dbAppPassword))}`,
      // DML for the app; DDL on its own schema only, for its migrations.
      `GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, REFERENCES ON \`${name}\`.* TO ${lit(users.app)}@${lit(src)}`,
    );
  }
  // Every db host may become a replica of any other (failover), so all get the user.
  for (const src of sourcesOf(plan, dbHosts)) {
    statements.push(
      `CREATE USER IF NOT EXISTS ${lit(users.replication)}@${lit(src)} IDENTIFIED BY PASSWORD ${lit(nativePasswordHash(s.dbReplicationPassword))}`,
      `GRANT REPLICATION SLAVE ON *.* TO ${lit(users.replication)}@${lit(src)}`,
    );
  }
  for (const src of sourcesOf(
    plan,
    plan.hosts.map((h) => h.name),
  )) {
    statements.push(
      `CREATE USER IF NOT EXISTS ${lit(users.monitor)}@${lit(src)} IDENTIFIED BY PASSWORD ${lit(nativePasswordHash(s.dbMonitorPassword))}`,
      `GRANT PROCESS, SELECT, SLAVE MONITOR, BINLOG MONITOR ON *.* TO ${lit(users.monitor)}@${lit(src)}`,
    );
  }
  await sql(paths, `${statements.join(';\n')};`);
  return Number(have[0]?.n ?? 0) === 0;
}

export function dbPaths(plan: Plan, host: string): ServicePaths {
  return servicePaths(dbService(plan, host));
}

export function dbService(plan: Plan, host: string): PlanService {
  const svc = plan.services.find((s) => s.kind === 'mariadb' && s.host === host);
  if (!svc) throw new Error(`no database on ${host}`);
  return svc;
}

export interface ReplicaStatus {
  readonly configured: boolean;
  readonly ioRunning: boolean;
  readonly sqlRunning: boolean;
  readonly masterHost: string;
  readonly lastError: string;
  readonly gtidIoPos: string;
}

export async function replicaStatus(paths: ServicePaths): Promise<ReplicaStatus> {
  const row = (await sql(paths, 'SHOW SLAVE STATUS'))[0];
  if (!row)
    return { configured: false, ioRunning: false, sqlRunning: false, masterHost: '', lastError: '', gtidIoPos: '' };
  return {
    configured: true,
    ioRunning: row.Slave_IO_Running === 'Yes',
    sqlRunning: row.Slave_SQL_Running === 'Yes',
    masterHost: row.Master_Host ?? '',
    lastError: [row.Last_IO_Error, row.Last_SQL_Error].filter(Boolean).join('; '),
    gtidIoPos: row.Gtid_IO_Pos ?? '',
  };
}

/** Points a replica at the primary with GTID and starts it (idempotent). */
export async function attachReplica(plan: Plan, replica: string): Promise<boolean> {
  const paths = dbPaths(plan, replica);
  const primary = hostOf(plan, plan.db.primary);
  const status = await replicaStatus(paths);
  if (status.configured && status.masterHost === primary.address && status.ioRunning && status.sqlRunning) return false;
  const statements = [
    'STOP SLAVE',
    `CHANGE MASTER TO MASTER_HOST=${lit(primary.address)}, MASTER_PORT=${plan.db.port}, MASTER_USER=${lit(plan.db.users.replication)}, MASTER_PASSWORD=${lit(plan.secrets.dbReplicationPassword)}, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`,
    'START SLAVE',
  ];
  await sql(paths, `${statements.join(';\n')};`);
  const deadline = Date.now() + 20_000;
  let last = await replicaStatus(paths);
  while (!(last.ioRunning && last.sqlRunning)) {
    if (Date.now() > deadline) {
      throw new TandemError(
        'TANDEM_NOT_READY',
        `replication on ${replica} did not start: ${last.lastError || 'threads not running'}`,
        `see ${paths.log}`,
      );
    }
    await sleep(100);
    last = await replicaStatus(paths);
  }
  return true;
}

/**
 * Semi-sync with the lossless wait point. The option files turn it on (with no wait
 * while no replica is connected); this step turns it on in a server started from an
 * older file, restarts the replicas' IO threads so they register as semi-sync, and
 * checks that the primary counts an acknowledging replica.
 */
export async function enableSemiSync(plan: Plan): Promise<boolean> {
  if (!plan.db.semiSync || plan.db.replicas.length === 0) return false;
  let changed = false;
  for (const replica of plan.db.replicas) {
    const paths = dbPaths(plan, replica);
    const [row] = await sql(paths, 'SELECT @@rpl_semi_sync_slave_enabled AS on_');
    if (row?.on_ === '1') continue;
    await sql(paths, 'SET GLOBAL rpl_semi_sync_slave_enabled=ON; STOP SLAVE IO_THREAD; START SLAVE IO_THREAD;');
    changed = true;
  }
  const primary = dbPaths(plan, plan.db.primary);
  const [row] = await sql(primary, 'SELECT @@rpl_semi_sync_master_enabled AS on_');
  if (row?.on_ !== '1') {
    await sql(primary, 'SET GLOBAL rpl_semi_sync_master_enabled=ON');
    changed = true;
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const rows = await sql(
      primary,
      "SHOW STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_clients', 'Rpl_semi_sync_master_status')",
    );
    const value = (name: string) => rows.find((r) => r.Variable_name === name)?.Value;
    if (Number(value('Rpl_semi_sync_master_clients') ?? 0) >= 1 && value('Rpl_semi_sync_master_status') === 'ON') {
      return changed;
    }
    await sleep(100);
  }
  throw new TandemError(
    'TANDEM_NOT_READY',
    'semi-sync: no replica acknowledged within 10 s (Rpl_semi_sync_master_clients = 0)',
    `see the replicas' logs (${plan.db.replicas.map((r) => dbPaths(plan, r).log).join(', ')})`,
  );
}

/** The app's migrations, run once against the primary with the app's own environment. */
export async function migrate(plan: Plan, appHost: string, appEnv: Record<string, string>): Promise<string> {
  const migrateScript = path.join(plan.app.codeDir, 'migrate.ts');
  if (!fs.existsSync(migrateScript)) return 'the code base has no migrate.ts';
  // From an app host: the database's grants (and firewall) admit app hosts.
  const argv = inNamespace(hostOf(plan, appHost), [process.execPath, '--import', 'tsx', 'migrate.ts']);
  const { stdout } = await run(argv, {
    cwd: plan.app.codeDir,
    env: appEnv,
    timeoutMs: 60_000,
  });
  return stdout.trim().split('\n').pop() ?? '';
}

export interface DbPosition {
  readonly host: string;
  readonly role: 'primary' | 'replica';
  readonly up: boolean;
  readonly readOnly?: boolean;
  readonly gtid?: string;
  readonly replication?: ReplicaStatus;
  /** Transactions the replica has yet to apply (domain 0), from GTID positions. */
  readonly lagTransactions?: number;
  readonly semiSync?: boolean;
}

function seqOf(gtid: string | undefined): number | undefined {
  if (!gtid) return undefined;
  const part = gtid.split(',').find((p) => p.trim().startsWith('0-'));
  return part ? Number(part.trim().split('-')[2]) : undefined;
}

/** Role, GTID position and replication health of every database. */
export async function dbPositions(plan: Plan): Promise<DbPosition[]> {
  const out: DbPosition[] = [];
  let primarySeq: number | undefined;
  for (const host of [plan.db.primary, ...plan.db.replicas]) {
    const paths = dbPaths(plan, host);
    const role = host === plan.db.primary ? 'primary' : 'replica';
    try {
      const [row] = await sql(
        paths,
        'SELECT @@gtid_binlog_pos AS binlog, @@gtid_slave_pos AS slave, @@read_only AS ro, @@rpl_semi_sync_master_enabled AS sm, @@rpl_semi_sync_slave_enabled AS ss',
        5000,
      );
      if (role === 'primary') {
        primarySeq = seqOf(row?.binlog);
        out.push({ host, role, up: true, readOnly: row?.ro === '1', gtid: row?.binlog, semiSync: row?.sm === '1' });
      } else {
        const replication = await replicaStatus(paths);
        const seq = seqOf(row?.slave) ?? 0;
        out.push({
          host,
          role,
          up: true,
          readOnly: row?.ro === '1',
          gtid: row?.slave,
          replication,
          semiSync: row?.ss === '1',
          lagTransactions: primarySeq === undefined ? undefined : Math.max(0, primarySeq - seq),
        });
      }
    } catch {
      out.push({ host, role, up: false });
    }
  }
  return out;
}
