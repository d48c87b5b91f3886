/**
 * Applies `migrations/*.sql` to the primary, in name order, each at most once (recorded
 * in `schema_migrations`). Safe to run from every app server at once: a named lock
 * serialises the runs. Exits 0 when the schema is current, 1 with a message otherwise.
 * Same environment as server.ts (only the TANDEM_DB_* variables are needed).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RowDataPacket } from 'mysql2/promise';
import mysql from 'mysql2/promise';
import { ConfigError, parseEndpoint } from './config.ts';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
const LOCK = 'tandem_schema_migrations';
const LOCK_WAIT_SECONDS = 60;
/** The primary may still be starting: retry connecting for a bounded time. */
const CONNECT_ATTEMPTS = 20;

function fail(message: string): never {
  process.stderr.write(`migrate: ${message}\n`);
  process.exit(1);
}

function env(name: string): string {
  const value = process.env[name]?.trim();
  if (!value) throw new ConfigError([`${name}: required`]);
  return value;
}

export function listMigrations(dir = MIGRATIONS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
}

async function main(): Promise<void> {
  let primary;
  let password: string;
  let database: string;
  let user: string;
  try {
    primary = parseEndpoint(env('TANDEM_DB_PRIMARY'));
    if (!primary)
      throw new ConfigError([
        `TANDEM_DB_PRIMARY: should be addr:port, got ${JSON.stringify(process.env.TANDEM_DB_PRIMARY)}`,
      ]);
    database = env('TANDEM_DB_NAME');
    user = env('TANDEM_DB_USER');
    const file = env('TANDEM_DB_PASSWORD_FILE');
    try {
      password = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new ConfigError([`TANDEM_DB_PASSWORD_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`]);
    }
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const localAddress = process.env.TANDEM_DB_SOURCE_ADDRESS?.trim() || undefined;
  const target = `${primary.host}:${primary.port ?? 3306}`;

  let conn: mysql.Connection | undefined;
  let lastError: unknown;
  for (let attempt = 1; attempt <= CONNECT_ATTEMPTS && !conn; attempt++) {
    try {
      conn = await mysql.createConnection({
        host: primary.host,
        port: primary.port ?? 3306,
        user,
        password,
        database,
        connectTimeout: 2000,
        // Migration files hold several statements; they are ours, not user input.
        multipleStatements: true,
        // mysql2 ignores `localAddress`; bind the source address through a stream factory.
        ...(localAddress !== undefined
          ? { stream: () => connect({ host: primary.host, port: primary.port ?? 3306, localAddress }) }
          : {}),
      });
    } catch (err) {
      lastError = err;
      const code = (err as { code?: string }).code;
      // Wrong credentials or schema will not fix themselves.
      if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR' || code === 'ER_BAD_DB_ERROR') break;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  if (!conn) fail(`cannot connect to the primary ${target} as ${user}: ${(lastError as Error)?.message ?? lastError}`);

  try {
    const [locked] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [LOCK, LOCK_WAIT_SECONDS]);
    if (Number(locked[0]?.got) !== 1) fail(`another migration held the lock ${LOCK} for ${LOCK_WAIT_SECONDS} s`);
    await conn.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR(255) NOT NULL PRIMARY KEY, applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB',
    );
    const [rows] = await conn.query<RowDataPacket[]>('SELECT name FROM schema_migrations');
    const applied = new Set(rows.map((r) => String(r.name)));
    let count = 0;
    for (const name of listMigrations()) {
      if (applied.has(name)) continue;
      const sql = readFileSync(join(MIGRATIONS_DIR, name), 'utf8');
      try {
        // MariaDB DDL commits implicitly: the files are written to be re-runnable
        // (IF NOT EXISTS), so a crash between a file and its record is harmless.
        await conn.query(sql);
      } catch (err) {
        fail(`${name} failed on ${target}: ${(err as Error).message}`);
      }
      await conn.query('INSERT INTO schema_migrations (name) VALUES (?)', [name]);
      count += 1;
      process.stdout.write(`migrate: applied ${name}\n`);
    }
    process.stdout.write(`migrate: ${database} on ${target} is current (${count} applied, ${applied.size} already)\n`);
    await conn.query('SELECT RELEASE_LOCK(?)', [LOCK]);
  } catch (err) {
    fail(`on ${target}: ${(err as Error).message}`);
  } finally {
    await conn.end().catch(() => {});
  }
}

await main();
