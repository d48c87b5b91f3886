/**
 * The dashboard's web server (issue 9): `buildDashboard(opts)` is the Fastify factory,
 * apart from `listen` (cli/dashboard.ts binds it to 127.0.0.1). The browser talks to it
 * only; it asks `tandem status` (shared by every browser polling it, at most one at a
 * time) and Prometheus' API with the queries of charts.ts — no PromQL from the browser.
 * It answers only requests addressed to a loopback name, so a web page elsewhere cannot
 * reach it through DNS rebinding.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Plan } from '../config/types.ts';
import type { StackStatus } from '../orchestrate/status.ts';
import { type ChartAssets } from '../chaos/report-html.ts';
import { TOPOLOGY_REFRESH_MS, DASHBOARD_SCRIPT } from './browser-script.ts';
import { chartCatalog, chartRange } from './charts.ts';
import { ASSETS, DASHBOARD_CSP, DASHBOARD_CSS, DASHBOARD_ICON, renderDashboardPage } from './page.ts';
import { type PrometheusGet, readAlerts, readChart } from './prometheus-api.ts';
import { renderTopologySvg } from './topology-svg.ts';
import { topologyView } from './topology.ts';

export interface DashboardOptions {
  readonly plan: Plan;
  /** `tandem status` of the stack (orchestrate/status.ts). */
  readonly status: () => Promise<StackStatus>;
  /** GETs a Prometheus API URL (prometheus-api.ts `httpGet`). */
  readonly prometheusGet: PrometheusGet;
  /** uPlot's browser build and stylesheet (chaos/report-html.ts `chartAssets`). */
  readonly assets: ChartAssets;
  /** The clock, in ms. @default Date.now */
  readonly now?: () => number;
}

/** Host names a request may be addressed to (with any port). */
const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** What the page says instead of charts and alerts when no monitor host watches the stack. */
export function noMonitorMessage(plan: Plan): string {
  return `Stack ${plan.name} has no monitor host: nothing watches it, so there are no charts and no alerts. Give a host the 'monitor' role (the default design has one) and run \`tandem up\`.`;
}

/**
 * `status()` shared by concurrent callers: one call at a time, and an answer younger
 * than half a topology refresh is reused.
 */
function sharedStatus(status: () => Promise<StackStatus>, now: () => number) {
  let last: { at: number; value: StackStatus } | undefined;
  let running: Promise<{ at: number; value: StackStatus }> | undefined;
  return async (): Promise<{ at: number; value: StackStatus }> => {
    if (last && now() - last.at < TOPOLOGY_REFRESH_MS / 2) return last;
    running ??= status()
      .then((value) => (last = { at: now(), value }))
      .finally(() => (running = undefined));
    return running;
  };
}

export function buildDashboard(opts: DashboardOptions): FastifyInstance {
  const { plan } = opts;
  const now = opts.now ?? Date.now;
  const app = Fastify({ logger: false });
  const catalog = chartCatalog(plan);
  const prometheus = plan.monitor ? `http://${plan.monitor.address}:${plan.monitor.prometheusPort}` : undefined;
  const readStatus = sharedStatus(opts.status, now);

  app.addHook('onRequest', async (request, reply) => {
    const host = (request.headers.host ?? '').replace(/:\d+$/, '');
    if (!LOOPBACK_NAMES.has(host)) return reply.code(421).send({ error: 'the dashboard answers 127.0.0.1 only' });
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return reply.code(405).send({ error: 'the dashboard only reads' });
  });
  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', DASHBOARD_CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cache-control', 'no-store');
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no such page: ${request.url.split('?')[0]}` }),
  );

  const asset = (path: string, type: string, body: string) =>
    app.get(path, (_req, reply) => reply.type(type).send(body));
  app.get('/', (_req, reply) => reply.type('text/html; charset=utf-8').send(renderDashboardPage(plan.name)));
  asset(ASSETS.uplotJs, 'text/javascript; charset=utf-8', opts.assets.js);
  asset(ASSETS.uplotCss, 'text/css; charset=utf-8', opts.assets.css);
  asset(ASSETS.script, 'text/javascript; charset=utf-8', DASHBOARD_SCRIPT);
  asset(ASSETS.style, 'text/css; charset=utf-8', DASHBOARD_CSS);
  asset(ASSETS.icon, 'image/svg+xml', DASHBOARD_ICON);

  app.get('/api/topology', async () => {
    const { at, value } = await readStatus();
    const view = topologyView(plan, value);
    return { at, url: view.url, vip: view.vip, primary: view.primary, svg: renderTopologySvg(view) };
  });

  app.get('/api/charts', async () =>
    catalog
      ? { charts: [...catalog.values()].map(({ id, title, unit, note }) => ({ id, title, unit, note })) }
      : { message: noMonitorMessage(plan) },
  );

  // The whitelist: an id of the catalog, and nothing else the browser sends, picks the queries.
  app.get<{ Params: { id: string } }>('/api/charts/:id', async (request, reply) => {
    const spec = catalog?.get(request.params.id);
    if (!spec || !prometheus)
      return reply.code(404).send({ error: `no chart '${request.params.id}' on this dashboard` });
    try {
      return await readChart(prometheus, spec, chartRange(plan, now()), opts.prometheusGet);
    } catch (err) {
      return reply.code(502).send({ error: `Prometheus at ${prometheus}: ${(err as Error).message}` });
    }
  });

  app.get('/api/alerts', async (_request, reply) => {
    if (!prometheus) return { message: noMonitorMessage(plan) };
    try {
      return { alerts: await readAlerts(prometheus, opts.prometheusGet) };
    } catch (err) {
      return reply.code(502).send({ error: `Prometheus at ${prometheus}: ${(err as Error).message}` });
    }
  });
  return app;
}
