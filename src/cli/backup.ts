/** `tandem backup [--full|--incremental]` and `tandem backups [--check]` (issue 10), from orchestrate/backup.ts. */
import type { BackupManifest } from '../backup/manifest.ts';
import { loadPlan } from '../orchestrate/config-loader.ts';
import { backupNow, listStoredBackups } from '../orchestrate/backup.ts';
import { table } from '../text.ts';
import type { Args } from './args.ts';

/** `1.2 MiB` */
export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

const verdict = (m: BackupManifest) =>
  m.verification === 'failed' ? `FAILED: ${m.failure ?? ''}` : m.verification === 'verified' ? 'verified' : 'pending';

/** One backup as `tandem backup` prints it. */
export function formatBackup(m: BackupManifest): string {
  const ms = Date.parse(m.endedAt) - Date.parse(m.startedAt);
  return [
    `backup ${m.id}`,
    `  kind      ${m.kind}${m.base ? ` on ${m.base}` : ''}`,
    `  source    ${m.source.host} (${m.source.why})`,
    `  GTID      ${m.gtid || '-'}`,
    `  size      ${sizeText(m.storedBytes)} stored (${sizeText(m.streamBytes)} streamed), sha256 ${m.sha256.slice(0, 16)}…`,
    `  duration  ${(ms / 1000).toFixed(1)} s backup${m.drill ? `, ${(m.drill.ms / 1000).toFixed(1)} s drill (${m.drill.compared}, ${Object.keys(m.drill.tables).length} tables)` : ''}`,
    `  verified  ${m.verification === 'verified' ? 'yes' : verdict(m)}`,
  ].join('\n');
}

/** The stored backups as a table, oldest first. */
export function formatBackups(list: readonly BackupManifest[]): string {
  if (list.length === 0) return 'no backup stored yet (`tandem backup` takes one)';
  const rows = [['ID', 'TIME (UTC)', 'KIND', 'GTID', 'SIZE', 'STATE']];
  for (const m of list) {
    rows.push([
      m.id,
      m.startedAt.slice(0, 19).replace('T', ' '),
      m.kind,
      m.gtid || '-',
      sizeText(m.storedBytes),
      verdict(m),
    ]);
  }
  return table(rows);
}

export async function runBackup(args: Args, out: (text: string) => void): Promise<number> {
  const plan = await loadPlan(args.config);
  const m = await backupNow(plan, args.incremental ? 'incremental' : 'full');
  out(args.json ? JSON.stringify(m, null, 2) : formatBackup(m));
  if (m.verification !== 'verified') {
    if (!args.json) console.error(`tandem: backup ${m.id} failed: ${m.failure ?? 'unverified'}`);
    return 1;
  }
  return 0;
}

export async function runBackups(args: Args, out: (text: string) => void): Promise<number> {
  const plan = await loadPlan(args.config);
  const list = await listStoredBackups(plan, args.check === true);
  out(args.json ? JSON.stringify(list, null, 2) : formatBackups(list));
  return 0;
}
