/**
 * The dashboard's charts and the only PromQL it ever sends (issue 9). The browser names
 * a chart by its id; the server looks the id up here and builds the `query_range` URL
 * itself (the last 15 minutes, one point per scrape), so the dashboard is no open proxy
 * to Prometheus: an id not in the catalog is refused, and nothing the browser sends
 * becomes part of a query. Pure: `chartCatalog`, `rangeUrl` and `alignSeries` do no I/O.
 */
import type { Plan } from '../config/types.ts';
import { HAPROXY_BACKEND } from '../render/haproxy.ts';

/** The window every chart shows. */
export const CHART_WINDOW_S = 15 * 60;

export type ChartUnit = 'req/s' | 's' | '%';

/** One PromQL expression of a chart; each of its series is named `<prefix><label value>`. */
export interface ChartQuery {
  readonly promql: string;
  /** The label whose value names each series (`server`, `host`). */
  readonly by: string;
  /** Put before the label value: `p99 ` gives `p99 server-1`. */
  readonly prefix?: string;
}

export interface ChartSpec {
  readonly id: string;
  readonly title: string;
  readonly unit: ChartUnit;
  /** Shown under the title: where the figures come from. */
  readonly note: string;
  readonly queries: readonly ChartQuery[];
}

/** A chart's data as uPlot takes it: shared timestamps (s), then one array per series. */
export interface ChartData {
  readonly id: string;
  readonly title: string;
  readonly unit: ChartUnit;
  readonly note: string;
  readonly labels: readonly string[];
  /** `[xs, ...ys]`; a missing point is null (uPlot draws a gap). */
  readonly data: readonly (readonly (number | null)[])[];
}

/** One series of Prometheus' `matrix` answer. */
export interface MatrixSeries {
  readonly metric: Readonly<Record<string, string>>;
  readonly values: readonly (readonly [number, string])[];
}

/**
 * The rate window: four scrapes, so that `rate()` always has two samples and a dead
 * server's line drops within seconds rather than the minute the alert rules use.
 */
const rateWindow = (scrapeS: number) => `${Math.max(4 * scrapeS, 10)}s`;

/** Every chart the dashboard may show for `plan`, keyed by id; null when nothing watches the stack. */
export function chartCatalog(plan: Plan): ReadonlyMap<string, ChartSpec> | null {
  if (!plan.monitor) return null;
  const w = rateWindow(plan.monitor.scrapeIntervalS);
  const responses = `haproxy_server_http_responses_total{proxy="${HAPROXY_BACKEND}"`;
  const quantile = (q: number) => ({
    promql: `histogram_quantile(${q}, sum by (le, host) (rate(http_request_duration_seconds_bucket{job="app"}[${w}])))`,
    by: 'host',
    prefix: `p${q * 100} `,
  });
  const shared =
    plan.hosting === 'netns'
      ? " Network namespaces share the machine's CPU and memory: each host's line is the machine's."
      : '';
  const charts: ChartSpec[] = [
    {
      id: 'requests',
      title: 'Requests per second, per backend server',
      unit: 'req/s',
      note: 'HAProxy: responses from each server, summed over the load balancers.',
      queries: [{ promql: `sum by (server) (rate(${responses}}[${w}]))`, by: 'server' }],
    },
    {
      id: 'errors',
      title: '5xx per second, per backend server',
      unit: 'req/s',
      note: "HAProxy: each server's 5xx responses, summed over the load balancers.",
      queries: [{ promql: `sum by (server) (rate(${responses},code="5xx"}[${w}]))`, by: 'server' }],
    },
    {
      id: 'latency',
      title: 'Latency p50 / p99, per app server',
      unit: 's',
      note: "HAProxy 2.6's exporter has no latency histogram: the apps' own (prom-client) behind each server.",
      queries: [quantile(0.5), quantile(0.99)],
    },
  ];
  if (plan.db.replicas.length > 0) {
    charts.push({
      id: 'replication',
      title: 'Replication lag, per replica',
      unit: 's',
      note: "mysqld_exporter: Seconds_Behind_Master of each replica's SQL thread.",
      queries: [{ promql: 'mysql_slave_status_seconds_behind_master', by: 'host' }],
    });
  }
  charts.push(
    {
      id: 'cpu',
      title: 'CPU busy, per host',
      unit: '%',
      note: `node_exporter: share of CPU time not idle.${shared}`,
      queries: [{ promql: `100 * (1 - avg by (host) (rate(node_cpu_seconds_total{mode="idle"}[${w}])))`, by: 'host' }],
    },
    {
      id: 'memory',
      title: 'Memory in use, per host',
      unit: '%',
      note: `node_exporter: 1 − MemAvailable / MemTotal.${shared}`,
      queries: [{ promql: '100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)', by: 'host' }],
    },
  );
  return new Map(charts.map((c) => [c.id, c]));
}

/** The time range every chart asks for at `nowMs`: the window, one step per scrape. */
export function chartRange(plan: Plan, nowMs: number): { start: number; end: number; step: number } {
  const step = plan.monitor?.scrapeIntervalS ?? 5;
  const end = Math.floor(nowMs / 1000 / step) * step;
  return { start: end - CHART_WINDOW_S, end, step };
}

/** The `query_range` URL for one of a chart's queries (Prometheus' base URL, no trailing slash). */
export function rangeUrl(prometheus: string, query: ChartQuery, range: ReturnType<typeof chartRange>): string {
  const params = new URLSearchParams({
    query: query.promql,
    start: String(range.start),
    end: String(range.end),
    step: String(range.step),
  });
  return `${prometheus}/api/v1/query_range?${params}`;
}

/**
 * Prometheus' matrices (one per query) as uPlot's aligned data: every step of the range
 * on the x axis, one series per label value sorted by name, null where a series has no
 * point (NaN, a gap) so that a dead server's line stops rather than lying at zero.
 */
export function alignSeries(
  spec: ChartSpec,
  matrices: readonly (readonly MatrixSeries[])[],
  range: ReturnType<typeof chartRange>,
): ChartData {
  const xs: number[] = [];
  for (let t = range.start; t <= range.end; t += range.step) xs.push(t);
  const index = new Map(xs.map((x, i) => [x, i]));
  const series: { label: string; ys: (number | null)[] }[] = [];
  matrices.forEach((matrix, q) => {
    const query = spec.queries[q]!;
    for (const s of matrix) {
      const ys: (number | null)[] = xs.map(() => null);
      for (const [t, v] of s.values) {
        const i = index.get(t);
        const n = Number(v);
        if (i !== undefined && Number.isFinite(n)) ys[i] = n;
      }
      series.push({ label: `${query.prefix ?? ''}${s.metric[query.by] ?? '?'}`, ys });
    }
  });
  series.sort((a, b) => a.label.localeCompare(b.label, 'en', { numeric: true }));
  return {
    id: spec.id,
    title: spec.title,
    unit: spec.unit,
    note: spec.note,
    labels: series.map((s) => s.label),
    data: [xs, ...series.map((s) => s.ys)],
  };
}
