/**
 * The chaos report as one HTML file that opens straight from the file system: the
 * latency of every request over the run (ok and failed in two colours), the faults and
 * heals marked, and the checker's verdicts. Everything is inline (the run's data and
 * uPlot's script and styles): no network. `renderChaosHtml` is pure; `writeChaosHtml`
 * reads uPlot from node_modules and writes the file beside the run's history.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { isFailure } from './checker.ts';
import type { History } from './history.ts';
import { renderScenarioReport } from './report.ts';
import type { ScenarioReport } from './run.ts';

/** uPlot's browser build and its stylesheet, as text. */
export interface ChartAssets {
  readonly js: string;
  readonly css: string;
}

/** What the page's script plots: seconds since the run's start, latency in ms. */
export interface ChartData {
  readonly ok: { readonly t: readonly number[]; readonly ms: readonly number[] };
  readonly failed: {
    readonly t: readonly number[];
    readonly ms: readonly number[];
    /** kind, outcome and status or error of each failed request, for its tooltip. */
    readonly what: readonly string[];
  };
  readonly marks: readonly { readonly t: number; readonly label: string; readonly kind: 'fault' | 'heal' }[];
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/** The points and marks of a run (pure): every request in one of two series, by start time. */
export function chartData(history: History): ChartData {
  const at = (epochMs: number) => round((epochMs - history.startedAt) / 1000);
  const ops = [...history.ops].sort((a, b) => a.start - b.start);
  const ok = { t: [] as number[], ms: [] as number[] };
  const failed = { t: [] as number[], ms: [] as number[], what: [] as string[] };
  for (const op of ops) {
    const series = isFailure(op) ? failed : ok;
    series.t.push(at(op.start));
    series.ms.push(op.end - op.start);
    if (series === failed) {
      const why = op.error ?? (op.status ? String(op.status) : '');
      failed.what.push(`${op.kind} ${op.outcome}${(op.attempts ?? 1) > 1 ? ' (retried)' : ''}${why ? `: ${why}` : ''}`);
    }
  }
  const marks = [
    ...history.faults.map((f) => ({ t: at(f.at), label: `${f.kind} ${f.target}`, kind: 'fault' as const })),
    ...history.heals.map((h) => ({ t: at(h.at), label: `heal: ${h.detail}`, kind: 'heal' as const })),
  ].sort((a, b) => a.t - b.t);
  return { ok, failed, marks };
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe inside HTML elements and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** JSON safe inside a <script> element: no `</script>`, `<!--` or line separators can end it. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Inline script or style text that cannot close its element early. */
const inline = (text: string, tag: 'script' | 'style') => text.replace(new RegExp(`</${tag}`, 'gi'), `<\\/${tag}`);

const VERDICT_CLASS = { kept: 'kept', broken: 'broken', unsupported: 'unsupported' } as const;

/** The page's own script: one uPlot scatter chart, a line per fault and heal. */
const PAGE_SCRIPT = `
const data = JSON.parse(document.getElementById('chaos-data').textContent);
const xs = [...new Set([...data.ok.t, ...data.failed.t])].sort((a, b) => a - b);
const index = new Map(xs.map((x, i) => [x, i]));
const okY = xs.map(() => null), failedY = xs.map(() => null);
data.ok.t.forEach((t, i) => { const j = index.get(t); okY[j] = Math.max(okY[j] ?? 0, data.ok.ms[i]); });
data.failed.t.forEach((t, i) => { const j = index.get(t); failedY[j] = Math.max(failedY[j] ?? 0, data.failed.ms[i]); });
const marks = {
  hooks: {
    draw: [(u) => {
      const ctx = u.ctx;
      ctx.save();
      ctx.font = (12 * devicePixelRatio) + 'px sans-serif';
      data.marks.forEach((m, i) => {
        const x = u.valToPos(m.t, 'x', true);
        ctx.strokeStyle = ctx.fillStyle = m.kind === 'fault' ? '#b45309' : '#1d4ed8';
        ctx.setLineDash([6, 4]);
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.fillText(m.label, x + 4, u.bbox.top + 14 * devicePixelRatio * (1 + (i % 3)));
      });
      ctx.restore();
    }],
  },
};
const dots = (colour) => ({ stroke: colour, fill: colour, paths: () => null, points: { show: true, size: 4, fill: colour } });
new uPlot({
  title: 'latency of every request',
  width: Math.min(1200, document.body.clientWidth - 20),
  height: 420,
  plugins: [marks],
  scales: { x: { time: false }, y: { distr: 3 } },
  axes: [{ label: 'seconds since the start' }, { label: 'ms (log scale)' }],
  series: [{ label: 's' }, { label: 'ok', ...dots('#15803d') }, { label: 'failed', ...dots('#dc2626') }],
}, [xs, okY, failedY], document.getElementById('chart'));
`;

/** The whole page for one scenario run (pure). */
export function renderChaosHtml(report: ScenarioReport, history: History, assets: ChartAssets): string {
  const data = chartData(history);
  const title = `tandem chaos: ${report.scenario} — ${report.verdict}`;
  const failedList = data.failed.t
    .slice(0, 200)
    .map((t, i) => `<li>+${t.toFixed(3)} s, ${data.failed.ms[i]} ms: ${escapeHtml(data.failed.what[i]!)}</li>`);
  const marks = data.marks.map((m) => `<li class="${m.kind}">+${m.t.toFixed(3)} s ${escapeHtml(m.label)}</li>`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>${inline(assets.css, 'style')}</style>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #111; }
.kept { color: #15803d; } .broken { color: #dc2626; } .unsupported { color: #6b7280; }
li.fault { color: #b45309; } li.heal { color: #1d4ed8; }
pre { background: #f3f4f6; padding: 8px; overflow-x: auto; }
</style>
</head>
<body>
<h1>${escapeHtml(report.scenario)}: <span class="${VERDICT_CLASS[report.verdict]}">${escapeHtml(report.verdict)}</span></h1>
<p>${escapeHtml(report.description)}</p>
<p><b>promise</b> ${escapeHtml(report.promise)}</p>
<p><b>verdict</b> ${escapeHtml(report.reason)}</p>
<p>${data.ok.t.length + data.failed.t.length} requests: ${data.ok.t.length} ok, ${data.failed.t.length} failed; started ${escapeHtml(new Date(history.startedAt).toISOString())}</p>
<div id="chart"></div>
<h2>faults and heals</h2>
<ul>${marks.join('')}</ul>
<h2>checker</h2>
<pre>${escapeHtml(renderScenarioReport(report))}</pre>
<h2>failed requests${data.failed.t.length > 200 ? ' (the first 200)' : ''}</h2>
<ul>${failedList.join('') || '<li>none</li>'}</ul>
<script type="application/json" id="chaos-data">${scriptJson(data)}</script>
<script>${inline(assets.js, 'script')}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** uPlot's browser build and styles from node_modules. */
export function chartAssets(): ChartAssets {
  const require = createRequire(import.meta.url);
  return {
    js: fs.readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: fs.readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
}

/** Writes the page beside the history file (`<history>.html`); returns its path. */
export function writeChaosHtml(historyFile: string, report: ScenarioReport, history: History): string {
  const file = historyFile.replace(/\.jsonl$/, '') + '.html';
  fs.writeFileSync(file, renderChaosHtml(report, history, chartAssets()));
  return file;
}
