/**
 * The schema, the users and their grants, created on the primary (idempotent) and
 * replicated to the replicas through the binlog. The passwords come as their own
 * argument, never from the Plan.
 */
import { createHash } from 'node:crypto';
import { hostOf } from '../../config/resolve.ts';
import type { Plan } from '../../config/types.ts';
import type { Secrets } from '../../hosts/secrets.ts';
import { dbPaths } from './instance.ts';
import { lit, sql } from './sql.ts';

/** The passwords of the users tandem creates. */
export type DbUserPasswords = Pick<
  Secrets,
  'dbAppPassword' | 'dbReplicationPassword' | 'dbMonitorPassword' | 'dbBackupPassword'
> &
  Partial<Pick<Secrets, 'dbArchivePassword'>>;

/**
 * mysql_native_password's stored form of a password ('*' + SHA1(SHA1(pw)) in hex).
 * Users are created `IDENTIFIED BY PASSWORD '<hash>'`, so the statement the binlog
 * keeps (and replicas relay) never holds the password itself.
 */
export function nativePasswordHash(password: string): string {
  const inner = createHash('sha1').update(password).digest();
  return `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
}

/** Addresses a host's client connections can come from (on loopback: also 127.0.0.1). */
function sourcesOf(plan: Plan, hostNames: readonly string[]): string[] {
  const addresses = hostNames.map((h) => hostOf(plan, h).address);
  if (plan.hosting === 'loopback') addresses.push('127.0.0.1');
  return [...new Set(addresses)];
}

/** The statements that create the schema, the users and their grants. Pure. */
export function userStatements(plan: Plan, passwords: DbUserPasswords): string[] {
  const appHosts = plan.hosts.filter((h) => h.roles.includes('app')).map((h) => h.name);
  const dbHosts = [plan.db.primary, ...plan.db.replicas];
  const { users, name } = plan.db;
  const user = (who: string, src: string, password: string) =>
    `CREATE USER IF NOT EXISTS ${lit(who)}@${lit(src)} IDENTIFIED BY PASSWORD ${lit(nativePasswordHash(password))}`;
  const statements: string[] = [`CREATE DATABASE IF NOT EXISTS \`${name}\``];
  for (const src of sourcesOf(plan, appHosts)) {
    statements.push(
      user(users.app, src, passwords.dbAppPassword),
      // DML for the app; DDL on its own schema only, for its migrations.
      `GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, REFERENCES ON \`${name}\`.* TO ${lit(users.app)}@${lit(src)}`,
    );
  }
  // Every db host may become a replica of any other (failover), so all get the user.
  for (const src of sourcesOf(plan, dbHosts)) {
    statements.push(
      user(users.replication, src, passwords.dbReplicationPassword),
      `GRANT REPLICATION SLAVE ON *.* TO ${lit(users.replication)}@${lit(src)}`,
    );
  }
  // The mysqld exporter beside each database connects to its own host's address. Least
  // privilege for its collectors: PROCESS (InnoDB status, the process list), SLAVE MONITOR
  // (SHOW SLAVE STATUS), BINLOG MONITOR (SHOW BINARY LOGS) and reading performance_schema.
  for (const src of sourcesOf(plan, dbHosts)) {
    statements.push(
      user(users.monitor, src, passwords.dbMonitorPassword),
      `GRANT PROCESS, SLAVE MONITOR, BINLOG MONITOR ON *.* TO ${lit(users.monitor)}@${lit(src)}`,
      `GRANT SELECT ON performance_schema.* TO ${lit(users.monitor)}@${lit(src)}`,
    );
  }
  // Under failover, the primary's sentinel streams a backup to a diverged database
  // (src/sentinel/reseed.ts): mariadb-backup over the socket, with what BACKUP STAGE and
  // the binlog position need, nothing more.
  // The backup sources (src/backup/source.ts, issue 10) run the same tool with the same user.
  if (plan.db.failover || plan.backup) {
    statements.push(
      user(users.backup, 'localhost', passwords.dbBackupPassword),
      `GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO ${lit(users.backup)}@'localhost'`,
    );
  }
  statements.push(...archiveUserStatements(plan, passwords, user));
  return statements;
}

/**
 * The binlog archiver streams the primary's binlog from the backup host (issue 10):
 * REPLICATION SLAVE for the stream, BINLOG MONITOR for SHOW BINARY LOGS and
 * SHOW BINLOG EVENTS (each file's Gtid_list, to pick where to resume), nothing more.
 */
function archiveUserStatements(
  plan: Plan,
  passwords: DbUserPasswords,
  user: (who: string, src: string, password: string) => string,
): string[] {
  if (!plan.backup || !passwords.dbArchivePassword) return [];
  const who = plan.db.users.archive;
  return sourcesOf(plan, [plan.backup.host]).flatMap((src) => [
    user(who, src, passwords.dbArchivePassword!),
    `GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO ${lit(who)}@${lit(src)}`,
  ]);
}

/** Users and schema on the primary. Returns true when tandem's users did not exist yet. */
export async function bootstrapPrimary(plan: Plan, passwords: DbUserPasswords): Promise<boolean> {
  const paths = dbPaths(plan, plan.db.primary);
  const have = await sql(paths, "SELECT COUNT(*) AS n FROM mysql.user WHERE user LIKE 'tandem\\_%'");
  await sql(paths, `${userStatements(plan, passwords).join(';\n')};`);
  return Number(have[0]?.n ?? 0) === 0;
}
