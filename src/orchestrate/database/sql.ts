/**
 * Admin SQL: through the local `mariadb` client on the instance's socket (root,
 * unix_socket auth), fed on stdin so no secret ever appears in a process list.
 */
import type { ServicePaths } from '../../config/paths.ts';
import { mariadbEngine } from '../../engines/mariadb.ts';
import { run } from '../../hosts/process.ts';

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
