/** The chaos HTML report (pure): data embedded, failed points apart from ok ones, strings escaped, verdicts listed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import vm from 'node:vm';
import { check } from '../../src/chaos/checker.ts';
import type { History, Op } from '../../src/chaos/history.ts';
import { chartAssets, chartData, escapeHtml, renderChaosHtml } from '../../src/chaos/report-html.ts';
import { renderScenarioReport } from '../../src/chaos/report.ts';
import type { ScenarioReport } from '../../src/chaos/run.ts';

const T0 = 1_795_000_000_000;
const op = (at: number, ms: number, outcome: Op['outcome'], extra: Partial<Op> = {}): Op => ({
  kind: 'page',
  start: T0 + at,
  end: T0 + at + ms,
  outcome,
  ...(outcome === 'ok' ? { status: 200 } : {}),
  ...extra,
});

const history: History = {
  scenario: 'kill-app',
  runId: 'r1',
  startedAt: T0,
  endedAt: T0 + 3000,
  ops: [
    op(2500, 4, 'ok'),
    op(100, 3, 'ok'),
    op(1200, 30, 'fail', { status: 502 }),
    op(1300, 2000, 'timeout', { error: '</script><script>alert(1)</script>' }),
    op(1500, 7, 'ok', { kind: 'write', id: 'w1', status: 201, attempts: 2, firstFailure: 'reset' }),
  ],
  faults: [{ id: 'f1', kind: 'kill', target: 'server-1/app', at: T0 + 1000, pids: [42] }],
  heals: [{ faultId: 'f1', at: T0 + 2000, doneAt: T0 + 2100, detail: 'up: <all> back' }],
  dbSamples: [],
  lbSamples: [],
  dbHosts: [],
};

const report: ScenarioReport = {
  scenario: 'kill-app',
  description: 'kill -9 of one app & see',
  promise: '0 failed requests',
  verdict: 'broken',
  reason: '3 requests failed <b>not bold</b>',
  figures: { failed: 3 },
  check: check(history),
  faults: history.faults,
  heals: history.heals,
  durationMs: 3000,
};

describe('chartData', () => {
  it('puts every request in the ok or the failed series by start time, a retried write among the failed', () => {
    const d = chartData(history);
    assert.deepEqual(d.ok, { t: [0.1, 2.5], ms: [3, 4] });
    assert.deepEqual(d.failed.t, [1.2, 1.3, 1.5]);
    assert.deepEqual(d.failed.ms, [30, 2000, 7]);
    assert.equal(d.failed.what[0], 'page fail: 502');
    assert.match(d.failed.what[2]!, /^write ok \(retried\)/);
    assert.equal(d.ok.t.length + d.failed.t.length, history.ops.length);
    assert.deepEqual(d.marks, [
      { t: 1, label: 'kill server-1/app', kind: 'fault' },
      { t: 2, label: 'heal: up: <all> back', kind: 'heal' },
    ]);
  });
});

describe('renderChaosHtml', () => {
  const assets = { js: 'window.uPlot = function () {};', css: '.uplot { color: red; }' };
  const html = renderChaosHtml(report, history, assets);

  it('embeds the run data as JSON that parses back to the chart data', () => {
    const json = /<script type="application\/json" id="chaos-data">([^<]*)<\/script>/.exec(html);
    assert.ok(json, 'the data script is there and holds no raw "<"');
    assert.deepEqual(JSON.parse(json[1]!), JSON.parse(JSON.stringify(chartData(history))));
  });

  it('inlines the chart library and its styles: nothing is loaded from elsewhere', () => {
    assert.ok(html.includes(assets.js));
    assert.ok(html.includes(assets.css));
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\//);
  });

  it('escapes every string from the run', () => {
    assert.ok(html.includes('kill -9 of one app &amp; see'));
    assert.ok(html.includes('3 requests failed &lt;b&gt;not bold&lt;/b&gt;'));
    assert.ok(html.includes('heal: up: &lt;all&gt; back'));
    assert.ok(!html.includes('<b>not bold</b>'));
    // The error text appears escaped in the list, and never as markup.
    assert.ok(html.includes('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.equal(html.split('<script').length - 1, 3, 'only the data, library and page scripts');
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('lists the verdict, the promise and the checker figures', () => {
    assert.match(html, /<span class="broken">broken<\/span>/);
    assert.ok(html.includes('0 failed requests'));
    assert.match(html, /5 requests: 2 ok, 3 failed/);
    assert.match(html, /slow +\d+ answered later than the latency bound/);
    assert.match(html, /writes +1 acknowledged/);
  });

  it("keeps the library's own text from closing its script element", () => {
    const page = renderChaosHtml(report, history, { js: 'x = "</script>";', css: 'a{}</style>' });
    assert.ok(page.includes('x = "<\\/script>";'));
    assert.ok(page.includes('a{}<\\/style>'));
  });

  it('the page script hands uPlot the ok and failed points apart, and draws a line per fault and heal', () => {
    // GIVEN a stand-in for uPlot and the DOM, WHEN the page's scripts run
    const json = /id="chaos-data">([^<]*)</.exec(html)![1]!;
    let made: { opts: { plugins: { hooks: { draw: ((u: unknown) => void)[] } }[] }; data: unknown[][] } | undefined;
    const lines: number[] = [];
    const context = vm.createContext({
      devicePixelRatio: 1,
      document: {
        body: { clientWidth: 1000 },
        getElementById: (id: string) => (id === 'chaos-data' ? { textContent: json } : {}),
      },
      uPlot: function (opts: never, data: never) {
        made = { opts, data };
      },
    });
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    vm.runInContext(scripts.at(-1)!, context);
    // THEN one x per start time, ok and failed latencies in their own series
    assert.ok(made);
    assert.deepEqual(JSON.parse(JSON.stringify(made.data)), [
      [0.1, 1.2, 1.3, 1.5, 2.5],
      [3, null, null, null, 4],
      [null, 30, 2000, 7, null],
    ]);
    const ctx = {
      save() {},
      restore() {},
      setLineDash() {},
      beginPath() {},
      moveTo: (x: number) => lines.push(x),
      lineTo() {},
      stroke() {},
      fillText() {},
    };
    const u = { ctx, bbox: { top: 0, height: 100 }, valToPos: (t: number) => t * 100 };
    made.opts.plugins[0]!.hooks.draw[0]!(u);
    assert.deepEqual(lines, [100, 200], 'the fault at 1 s and the heal at 2 s');
  });

  it("the text report ends with the HTML report's path", () => {
    const text = renderScenarioReport({ ...report, historyFile: '/s/run.jsonl', htmlReport: '/s/run.html' });
    assert.deepEqual(text.split('\n').slice(-2), ['history   /s/run.jsonl', 'report    /s/run.html']);
  });

  it('uses the real uPlot build from node_modules, and every script of the page compiles', () => {
    const real = chartAssets();
    assert.match(real.js, /uPlot/);
    assert.ok(real.css.includes('.uplot'));
    const page = renderChaosHtml(report, history, real);
    const scripts = [...page.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    assert.equal(scripts.length, 2, 'the library and the page script');
    for (const code of scripts) assert.doesNotThrow(() => new vm.Script(code), code.slice(0, 80));
  });
});
