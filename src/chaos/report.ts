/** Pure rendering of chaos reports: one scenario in detail, or the scenario matrix. */
import { table } from '../text.ts';
import type { ScenarioReport } from './run.ts';

const secs = (ms: number | null | undefined) => (ms === null || ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`);

function verdictText(r: ScenarioReport): string {
  if (r.verdict === 'unsupported') return 'not supported here';
  if (r.verdict === 'broken' && r.knownGap) return 'BROKEN (expected)';
  return r.verdict === 'kept' ? 'kept' : 'BROKEN';
}

/** One scenario: promise, verdict, counts by kind, writes, outage, figures. */
export function renderScenarioReport(r: ScenarioReport): string {
  const lines = [
    `scenario  ${r.scenario} — ${r.description}`,
    `promise   ${r.promise}`,
    `verdict   ${verdictText(r)}: ${r.reason}`,
  ];
  if (r.knownGap) lines.push(`known gap ${r.knownGap}`);
  const c = r.check;
  if (c) {
    lines.push('');
    const rows: string[][] = [['requests', 'total', 'ok', 'failed']];
    for (const [kind, k] of Object.entries(c.byKind))
      rows.push([kind, String(k.total), String(k.ok), String(k.failed)]);
    rows.push(['all', String(c.ops), String(c.ops - c.failed), String(c.failed)]);
    lines.push(table(rows));
    lines.push('');
    lines.push(
      `writes    ${c.writes.acknowledged} acknowledged, ${c.writes.indeterminate} indeterminate (${c.writes.indeterminateApplied} of them applied), ${c.writes.lost.length} lost, ${c.writes.duplicated.length} duplicated; ${c.writes.retried} retried once with the same id (each counted failed)`,
    );
    for (const l of c.writes.lostOn) lines.push(`  lost on ${l.host}: ${l.ids.slice(0, 10).join(' ')}`);
    lines.push(`slow      ${c.slow} answered later than the latency bound (counted failed)`);
    lines.push(`ryw       ${c.rywViolations.length} read-your-writes violation(s)`);
    lines.push(
      `databases ${
        c.writableOverlaps.length > 0
          ? `two writable at once: ${c.writableOverlaps.map((o) => `${o.hosts.join('+')} ${secs(o.fromMs)}–${secs(o.toMs)}`).join(', ')}`
          : c.unsampledDbs.length > 0
            ? `two writable not ruled out: ${c.unsampledDbs.join(', ')} never answered a read_only sighting`
            : 'never two writable at once (none proven by the read_only sightings)'
      }`,
    );
    lines.push(
      `outage    ${c.outage ? `${secs(c.outage.fromMs)} → ${secs(c.outage.toMs)} (${secs(c.outage.durationMs)})` : 'none'}; recovery ${c.recoveryMs === null ? 'not within the run' : secs(c.recoveryMs)} after the fault; writes ${c.writeRecoveryMs === null ? 'not working again within the run' : `working again ${secs(c.writeRecoveryMs)} after the fault`}`,
    );
    for (const f of c.sampleFailures) {
      lines.push(
        `  failed  +${secs(f.atMs)} ${f.kind} ${f.outcome}${f.status ? ` ${f.status}` : ''}${f.error ? `: ${f.error.replace(/\s+/g, ' ').slice(0, 100)}` : ''}`,
      );
    }
    if (c.finalStateError) lines.push(`final state could not be read: ${c.finalStateError}`);
  }
  const figures = Object.entries(r.figures);
  if (figures.length > 0) lines.push(`figures   ${figures.map(([k, v]) => `${k}=${v ?? '—'}`).join('  ')}`);
  if (r.historyFile) lines.push(`history   ${r.historyFile}`);
  if (r.htmlReport) lines.push(`report    ${r.htmlReport}`);
  return lines.join('\n');
}

/** The matrix: one row per scenario. */
export function renderMatrix(reports: readonly ScenarioReport[]): string {
  const rows: string[][] = [
    [
      'scenario',
      'promise',
      'verdict',
      'requests',
      'failed',
      'retried',
      'slow',
      'lost',
      'dup',
      'ryw',
      'outage',
      'recovery',
    ],
  ];
  for (const r of reports) {
    const c = r.check;
    rows.push([
      r.scenario,
      r.promise,
      verdictText(r),
      c ? String(c.ops) : '—',
      c ? String(c.failed) : '—',
      c ? String(c.writes.retried) : '—',
      c ? String(c.slow) : '—',
      c ? String(c.writes.lost.length) : '—',
      c ? String(c.writes.duplicated.length) : '—',
      c ? String(c.rywViolations.length) : '—',
      c?.outage ? secs(c.outage.durationMs) : c ? 'none' : '—',
      c ? (c.recoveryMs === null ? 'not in run' : secs(c.recoveryMs)) : '—',
    ]);
  }
  return table(rows);
}
