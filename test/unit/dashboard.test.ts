/**
 * The dashboard's pure parts: the chart catalog (the only PromQL it sends), the series
 * alignment for uPlot, the topology view and its SVG, Prometheus' alerts answer, and the
 * server's refusals (unknown chart, PromQL from the browser, a foreign Host, a write).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolve } from '../../src/config/resolve.ts';
import type { Plan } from '../../src/config/types.ts';
import { alignSeries, chartCatalog, chartRange, rangeUrl } from '../../src/dashboard/charts.ts';
import { DASHBOARD_CSP } from '../../src/dashboard/page.ts';
import { alertsFrom } from '../../src/dashboard/prometheus-api.ts';
import { buildDashboard } from '../../src/dashboard/server.ts';
import { HEALTH_COLOURS, renderTopologySvg } from '../../src/dashboard/topology-svg.ts';
import { topologyView } from '../../src/dashboard/topology.ts';
import type { ServiceStatus, StackStatus } from '../../src/orchestrate/status.ts';
import { MONITORED_STACK } from './fixtures/plans.ts';

const opts = { projectDir: '/srv/site', bundledAppDir: '/opt/tandem/src/app', defaultHosting: 'netns' as const };
const monitored = resolve(MONITORED_STACK, opts);
const unmonitored = resolve({ ...MONITORED_STACK, hosts: MONITORED_STACK.hosts!.slice(0, 4) }, opts);

/** `tandem status` of `plan` with every service in `state` unless `states` names it. */
function statusOf(plan: Plan, states: Record<string, ServiceStatus['state']> = {}, extra: Partial<StackStatus> = {}) {
  const status: StackStatus = {
    name: plan.name,
    url: plan.url,
    hosting: plan.hosting,
    hosts: plan.hosts.map((h) => ({
      name: h.name,
      address: h.address,
      roles: h.roles,
      services: plan.services
        .filter((s) => s.host === h.name)
        .map((s) => ({
          id: s.id,
          kind: s.kind,
          address: s.address,
          port: s.port,
          state: states[s.id] ?? states[h.name] ?? 'running',
          pid: 1,
          restarts: 0,
          livenessRestarts: null,
        })),
    })),
    lb: {
      backends: ['lb-1', 'lb-2'].flatMap((lb) =>
        ['server-1', 'server-2'].map((server) => ({ lb, server, status: 'UP', check: 'L7OK' })),
      ),
      vip: { address: plan.lb.vip!, holder: 'lb-1' },
    },
    db: {
      primary: 'server-2',
      failover: null,
      replication: { running: true, lagTransactions: 0 },
      instances: [],
    },
    etcd: null,
    monitor: null,
    backup: null,
    ...extra,
  };
  return status;
}

describe('dashboard charts: the only queries it forwards', () => {
  it('GIVEN a monitored stack THEN the catalog has each chart of issue 9, built from the plan', () => {
    const catalog = chartCatalog(monitored)!;
    assert.deepEqual([...catalog.keys()], ['requests', 'errors', 'latency', 'replication', 'cpu', 'memory']);
    assert.deepEqual(catalog.get('requests')!.queries, [
      { promql: 'sum by (server) (rate(haproxy_server_http_responses_total{proxy="web"}[20s]))', by: 'server' },
    ]);
    assert.deepEqual(
      catalog.get('latency')!.queries.map((q) => [q.promql, q.prefix]),
      [
        [
          'histogram_quantile(0.5, sum by (le, host) (rate(http_request_duration_seconds_bucket{job="app"}[20s])))',
          'p50 ',
        ],
        [
          'histogram_quantile(0.99, sum by (le, host) (rate(http_request_duration_seconds_bucket{job="app"}[20s])))',
          'p99 ',
        ],
      ],
    );
  });

  it('GIVEN no monitor host THEN there is no catalog; GIVEN no replica THEN no replication chart', () => {
    assert.equal(chartCatalog(unmonitored), null);
    const single = resolve(
      {
        ...MONITORED_STACK,
        hosts: [
          { name: 'lb-1', roles: ['lb'] },
          { name: 'server-1', roles: ['web', 'app', 'db'] },
          { name: 'monitor', roles: ['monitor'] },
        ],
        database: { primary: 'server-1' },
      },
      opts,
    );
    assert.deepEqual([...chartCatalog(single)!.keys()], ['requests', 'errors', 'latency', 'cpu', 'memory']);
  });

  it('the range is the last 15 minutes on scrape boundaries; the URL carries only the catalog query', () => {
    const range = chartRange(monitored, 1_000_003_000);
    assert.deepEqual(range, { start: 999_100, end: 1_000_000, step: 5 });
    const url = rangeUrl('http://10.77.0.15:9090', { promql: 'up{job="node"}', by: 'host' }, range);
    assert.equal(
      url,
      'http://10.77.0.15:9090/api/v1/query_range?query=up%7Bjob%3D%22node%22%7D&start=999100&end=1000000&step=5',
    );
  });

  it('series align on every step: a missing or NaN point is a gap (null), labels sorted with their prefix', () => {
    const spec = chartCatalog(monitored)!.get('latency')!;
    const range = { start: 100, end: 115, step: 5 };
    const data = alignSeries(
      spec,
      [
        [
          { metric: { host: 'server-2' }, values: [[105, '0.25']] },
          {
            metric: { host: 'server-1' },
            values: [
              [100, '0.5'],
              [110, 'NaN'],
              [115, '0.75'],
            ],
          },
        ],
        [{ metric: { host: 'server-1' }, values: [[115, '1']] }],
      ],
      range,
    );
    assert.deepEqual(data.labels, ['p50 server-1', 'p50 server-2', 'p99 server-1']);
    assert.deepEqual(data.data, [
      [100, 105, 110, 115],
      [0.5, null, null, 0.75],
      [null, 0.25, null, null],
      [null, null, null, 1],
    ]);
  });
});

describe('dashboard topology', () => {
  it('GIVEN a healthy stack THEN every host is up, lb-1 holds the VIP, server-2 is primary', () => {
    const view = topologyView(monitored, statusOf(monitored));
    assert.deepEqual(
      view.hosts.map((h) => [h.name, h.tier, h.health, h.badges]),
      [
        ['lb-1', 'lb', 'up', ['VIP']],
        ['lb-2', 'lb', 'up', []],
        ['server-1', 'web', 'up', ['replica']],
        ['server-2', 'web', 'up', ['primary']],
        ['monitor', 'monitor', 'up', []],
      ],
    );
    assert.deepEqual(
      view.links.filter((l) => l.from === 'vip' || l.to === 'vip'),
      [
        { from: 'client', to: 'vip', active: true },
        { from: 'vip', to: 'lb-1', active: true },
        { from: 'vip', to: 'lb-2', active: false },
      ],
    );
  });

  it('GIVEN server-1 killed (every service stopped, both LBs mark it DOWN) THEN server-1 is down, the rest up', () => {
    const status = statusOf(monitored, { 'server-1': 'stopped' });
    const down = {
      lb: {
        ...status.lb,
        backends: status.lb.backends.map((b) => (b.server === 'server-1' ? { ...b, status: 'DOWN' } : b)),
      },
    };
    const view = topologyView(monitored, { ...status, ...down });
    assert.deepEqual(
      view.hosts.map((h) => [h.name, h.health]),
      [
        ['lb-1', 'up'],
        ['lb-2', 'up'],
        ['server-1', 'down'],
        ['server-2', 'up'],
        ['monitor', 'up'],
      ],
    );
    assert.deepEqual([view.hosts[2]!.badges, view.hosts[2]!.lbVerdict], [['replica'], 'DOWN on lb-1, lb-2']);
    assert.match(renderTopologySvg(view), /<text class="lb-verdict"[^>]*>LB: DOWN on lb-1, lb-2<\/text>/);
    assert.ok(view.links.some((l) => l.from === 'lb-1' && l.to === 'server-1' && !l.active));
  });

  it('GIVEN one service unready, or a server its LB marks down THEN the host is degraded', () => {
    const status = statusOf(monitored, { 'server-2/app': 'unready' });
    const backends = status.lb.backends.map((b) =>
      b.lb === 'lb-1' && b.server === 'server-1' ? { ...b, status: 'DOWN', check: 'L7STS' } : b,
    );
    const view = topologyView(monitored, { ...status, lb: { ...status.lb, backends } });
    const health = Object.fromEntries(view.hosts.map((h) => [h.name, h.health]));
    assert.equal(health['server-2'], 'degraded');
    assert.equal(health['server-1'], 'degraded');
  });

  it('the SVG has one group per host with its health, coloured header, and escapes names', () => {
    const status = statusOf(monitored, { 'server-1': 'stopped' });
    const svg = renderTopologySvg(topologyView(monitored, status));
    const groups = [...svg.matchAll(/<g class="host" data-host="([^"]+)" data-health="(\w+)">/g)].map((m) => [
      m[1],
      m[2],
    ]);
    assert.deepEqual(groups, [
      ['lb-1', 'up'],
      ['lb-2', 'up'],
      ['server-1', 'down'],
      ['server-2', 'up'],
      ['monitor', 'up'],
    ]);
    const header = (host: string) =>
      new RegExp(`data-host="${host}"[^]*?<rect class="host-header"[^>]*fill="([^"]+)"`).exec(svg)![1];
    assert.equal(header('server-1'), HEALTH_COLOURS.down);
    assert.equal(header('server-2'), HEALTH_COLOURS.up);
    assert.match(svg, /VIP 10\.77\.0\.10 on lb-1/);
    assert.doesNotMatch(svg, /style=|<style|<script/);
    const odd = renderTopologySvg(topologyView(monitored, { ...status, name: '<x&y>' }));
    assert.match(odd, /topology of &lt;x&amp;y&gt;/);
  });

  it('GIVEN the VIP held by nobody THEN its node says so in red', () => {
    const status = statusOf(monitored, {}, {});
    const svg = renderTopologySvg(
      topologyView(monitored, { ...status, lb: { ...status.lb, vip: { address: '10.77.0.10', holder: null } } }),
    );
    assert.match(svg, new RegExp(`fill="${HEALTH_COLOURS.down}"/><text[^>]*>VIP 10.77.0.10 held by NO load balancer`));
  });
});

describe('dashboard alerts', () => {
  it("Prometheus' /api/v1/alerts answer becomes the list, firing first; inactive ones are left out", () => {
    const body = {
      status: 'success',
      data: {
        alerts: [
          {
            labels: { alertname: 'ReplicaLagging', host: 'server-1', severity: 'warning' },
            annotations: { summary: 'lag' },
            state: 'pending',
            activeAt: '2026-11-24T20:00:00Z',
          },
          {
            labels: { alertname: 'BackendServerDown', host: 'lb-1', server: 'server-1', severity: 'warning' },
            annotations: { summary: 'HAProxy on lb-1 marks server-1 down' },
            state: 'firing',
            activeAt: '2026-11-24T20:00:01Z',
          },
          { labels: { alertname: 'Old' }, state: 'inactive' },
        ],
      },
    };
    assert.deepEqual(alertsFrom(body), [
      {
        name: 'BackendServerDown',
        state: 'firing',
        severity: 'warning',
        summary: 'HAProxy on lb-1 marks server-1 down',
        where: 'host=lb-1 server=server-1',
        since: '2026-11-24T20:00:01Z',
      },
      {
        name: 'ReplicaLagging',
        state: 'pending',
        severity: 'warning',
        summary: 'lag',
        where: 'host=server-1',
        since: '2026-11-24T20:00:00Z',
      },
    ]);
    assert.throws(
      () => alertsFrom({ status: 'error', error: 'bad' }),
      /Prometheus answered \/api\/v1\/alerts with bad/,
    );
  });
});

describe('dashboard server: no open proxy', () => {
  const assets = { js: '/* uPlot */', css: '/* uPlot css */' };
  /** Records each URL the server asks Prometheus for and answers an empty matrix. */
  function server(plan: Plan) {
    const asked: string[] = [];
    const app = buildDashboard({
      plan,
      status: async () => statusOf(plan),
      prometheusGet: async (url) => {
        asked.push(url);
        return { status: 'success', data: { resultType: 'matrix', result: [], alerts: [] } };
      },
      assets,
      now: () => 1_000_003_000,
    });
    const get = (url: string, host = '127.0.0.1:7070') => app.inject({ method: 'GET', url, headers: { host } });
    return { app, asked, get };
  }

  it('a chart id of the catalog is forwarded as its own query; anything the browser adds is not', async () => {
    const { asked, get } = server(monitored);
    const r = await get('/api/charts/requests?query=count(up)&start=0');
    assert.equal(r.statusCode, 200);
    assert.equal(asked.length, 1);
    const forwarded = new URL(asked[0]!);
    assert.equal(`${forwarded.origin}${forwarded.pathname}`, 'http://10.77.0.15:9090/api/v1/query_range');
    assert.equal(forwarded.searchParams.get('query'), chartCatalog(monitored)!.get('requests')!.queries[0]!.promql);
    assert.equal(forwarded.searchParams.get('start'), '999100');
  });

  it('an unknown chart, a Prometheus path, a foreign Host or a write is refused and reaches no Prometheus', async () => {
    const { app, asked, get } = server(monitored);
    assert.equal((await get('/api/charts/count(up)')).statusCode, 404);
    assert.equal((await get('/api/charts/__proto__')).statusCode, 404);
    assert.equal((await get('/api/v1/query_range?query=up&start=0&end=1&step=1')).statusCode, 404);
    assert.equal((await get('/api/v1/query?query=up')).statusCode, 404);
    assert.equal((await get('/', 'attacker.example:7070')).statusCode, 421);
    const post = await app.inject({ method: 'POST', url: '/api/alerts', headers: { host: '127.0.0.1' }, payload: {} });
    assert.equal(post.statusCode, 405);
    assert.deepEqual(asked, []);
  });

  it('the page and every asset come with the strict CSP; the page has no inline script or style', async () => {
    const { get } = server(monitored);
    const page = await get('/');
    assert.equal(page.statusCode, 200);
    assert.equal(page.headers['content-security-policy'], DASHBOARD_CSP);
    assert.match(DASHBOARD_CSP, /script-src 'self';/);
    assert.doesNotMatch(DASHBOARD_CSP, /unsafe|\*|http/);
    assert.doesNotMatch(page.body, /<script>|<style|style=/);
    const srcs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(srcs.length >= 4, srcs.join(' '));
    for (const src of srcs) {
      assert.match(src, /^\/assets\//, 'same origin only');
      const r = await get(src);
      assert.equal(r.statusCode, 200, src);
      assert.equal(r.headers['content-security-policy'], DASHBOARD_CSP, src);
    }
  });

  it('GIVEN no monitor host THEN charts and alerts say that nothing watches the stack; the topology still shows', async () => {
    const { asked, get } = server(unmonitored);
    const charts = (await get('/api/charts')).json() as { message: string };
    assert.match(charts.message, /has no monitor host: nothing watches it/);
    assert.match(((await get('/api/alerts')).json() as { message: string }).message, /no monitor host/);
    assert.equal((await get('/api/charts/cpu')).statusCode, 404);
    const topology = (await get('/api/topology')).json() as { svg: string };
    assert.match(topology.svg, /data-host="server-1" data-health="up"/);
    assert.deepEqual(asked, []);
  });
});
