/**
 * Row counts and `CHECKSUM TABLE` of every base table of a schema, over a mysql2
 * connection: what the restore drill compares between the source (at the backup's
 * GTID) and the scratch instance restored from the backup.
 */
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { TableFigures } from './manifest.ts';

const ident = (name: string) => `\`${name.replace(/`/g, '``')}\``;

export async function tableFigures(conn: Connection, schema: string): Promise<Record<string, TableFigures>> {
  const [tables] = await conn.query<RowDataPacket[]>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name",
    [schema],
  );
  const out: Record<string, TableFigures> = {};
  for (const { name } of tables as { name: string }[]) {
    const table = `${ident(schema)}.${ident(name)}`;
    const [[count]] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`);
    const [[sum]] = await conn.query<RowDataPacket[]>(`CHECKSUM TABLE ${table}`);
    out[name] = { rows: Number(count!.n), checksum: sum?.Checksum === null ? null : String(sum!.Checksum) };
  }
  return out;
}
