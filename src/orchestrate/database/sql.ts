/**
 * Admin SQL as root on the instance's own socket (unix_socket auth: no password), in
 * this process over mysql2: no client process to spawn (30–90 ms each on a loaded
 * machine, and a second `up` or `status` asks a dozen times), and no secret in any
 * process list. Every value comes back as the text the `mariadb` client prints.
 */
import mysql, { type FieldPacket, type RowDataPacket } from 'mysql2/promise';
import type { ServicePaths } from '../../config/paths.ts';
import { TandemError } from '../../errors.ts';

export type Row = Record<string, string>;

/** A value as text, NULL as the client prints it. */
const asText = (field: { string(): string | null }): string => field.string() ?? 'NULL';

/**
 * Runs SQL (one or more statements) as root over the instance's socket, within
 * `timeoutMs`; returns the rows of its first result set that has rows.
 */
export async function sql(paths: ServicePaths, text: string, timeoutMs = 30_000): Promise<Row[]> {
  let conn: mysql.Connection | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const work = (async () => {
      conn = await mysql.createConnection({
        socketPath: paths.socket,
        user: 'root',
        multipleStatements: true,
        connectTimeout: timeoutMs,
        typeCast: (field) => asText(field),
      });
      return conn.query(text);
    })();
    work.catch(() => {});
    const [results, fields] = (await Promise.race([work, deadline])) as [unknown, unknown];
    return firstRows(results, fields);
  } catch (err) {
    throw new TandemError(
      'TANDEM_PROCESS_FAILED',
      `SQL on ${paths.socket} failed: ${(err as Error).message}`,
      `see the server's log: ${paths.log}`,
    );
  } finally {
    clearTimeout(timer);
    (conn as mysql.Connection | undefined)?.destroy();
  }
}

/** The rows of the first result set with columns (a query's results: one set, or one per statement). */
function firstRows(results: unknown, fields: unknown): Row[] {
  const multi = Array.isArray(fields) && fields.some((f) => Array.isArray(f) || f === undefined);
  const sets = multi ? (results as unknown[]) : [results];
  const columns = multi ? (fields as (FieldPacket[] | undefined)[]) : [fields as FieldPacket[] | undefined];
  const i = columns.findIndex((c) => Array.isArray(c) && c.length > 0);
  return i < 0 ? [] : ((sets[i] as RowDataPacket[]).map((r) => ({ ...r })) as Row[]);
}

/** Single-quoted SQL string literal. Used only for values tandem generated itself. */
export function lit(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export async function pingable(paths: ServicePaths): Promise<boolean> {
  try {
    await sql(paths, 'SELECT 1', 3000);
    return true;
  } catch {
    return false;
  }
}
