/** `tandem alerts [--json]`: what fires now, from orchestrate/alerts.ts. */
import { loadPlan } from '../orchestrate/config-loader.ts';
import { type AlertsReport, listAlerts } from '../orchestrate/alerts.ts';
import type { Args } from './args.ts';

/** `12 s`, `4 min`, `3 h`, `2 d`: how long ago. */
function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/** A table of what fires, oldest first, or one line saying nothing does. */
export function formatAlerts(report: AlertsReport, now: number): string {
  const where = `Alertmanager on ${report.monitor}, ${report.alertmanager}`;
  if (report.alerts.length === 0) return `nothing fires (${where})`;
  const rows = report.alerts.map((a) => [
    a.name,
    a.host ?? a.instance ?? '-',
    `${new Date(a.since).toISOString().slice(0, 19).replace('T', ' ')} (${ago(now - Date.parse(a.since))} ago)`,
    a.severity ?? '-',
    a.state === 'suppressed' ? `${a.summary ?? ''} [inhibited or silenced]` : (a.summary ?? ''),
  ]);
  const head = ['ALERT', 'HOST', 'SINCE (UTC)', 'SEVERITY', 'SUMMARY'];
  const widths = head.slice(0, -1).map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i < widths.length ? c.padEnd(widths[i]!) : c))
      .join('  ')
      .trimEnd();
  const count = `${report.alerts.length} alert${report.alerts.length === 1 ? '' : 's'} firing (${where})`;
  return [line(head), ...rows.map(line), count].join('\n');
}

export async function runAlerts(args: Args, out: (text: string) => void): Promise<number> {
  const plan = await loadPlan(args.config);
  const report = await listAlerts(plan);
  out(args.json ? JSON.stringify(report, null, 2) : formatAlerts(report, Date.now()));
  return 0;
}
