/**
 * The dashboard's two reads of Prometheus' HTTP API: a chart's `query_range` series and
 * the alerts its rules hold (`/api/v1/alerts`). The HTTP GET comes in as a parameter
 * (`PrometheusGet`); turning the answers into the page's data is pure.
 */
import { alignSeries, type ChartData, type ChartSpec, chartRange, type MatrixSeries, rangeUrl } from './charts.ts';

/** GETs a Prometheus API URL and returns its parsed JSON body; throws when it does not answer 200. */
export type PrometheusGet = (url: string) => Promise<unknown>;

/** An alert as the page lists it. */
export interface AlertView {
  readonly name: string;
  /** pending: its condition holds, not yet for its `for`; firing: it fires. */
  readonly state: 'pending' | 'firing';
  readonly severity: string;
  readonly summary: string;
  /** Where: the host, server or instance labels it has. */
  readonly where: string;
  /** When its condition started to hold (ISO 8601). */
  readonly since: string;
}

interface PromAlert {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  state?: string;
  activeAt?: string;
}

function dataOf<T>(body: unknown, what: string): T {
  const b = body as { status?: string; data?: T; error?: string };
  if (b?.status !== 'success' || b.data === undefined)
    throw new Error(`Prometheus answered ${what} with ${b?.error ?? 'no data'}`);
  return b.data;
}

/** The alerts of Prometheus' `/api/v1/alerts` answer, firing first, then by name (pure). */
export function alertsFrom(body: unknown): AlertView[] {
  const { alerts } = dataOf<{ alerts: PromAlert[] }>(body, '/api/v1/alerts');
  return alerts
    .filter((a) => a.state === 'firing' || a.state === 'pending')
    .map((a): AlertView => {
      const labels = a.labels ?? {};
      return {
        name: labels.alertname ?? '?',
        state: a.state as AlertView['state'],
        severity: labels.severity ?? '',
        summary: a.annotations?.summary ?? '',
        where: ['host', 'server', 'instance']
          .filter((k) => labels[k])
          .map((k) => `${k}=${labels[k]}`)
          .join(' '),
        since: a.activeAt ?? '',
      };
    })
    .sort((a, b) => (a.state === b.state ? a.name.localeCompare(b.name) : a.state === 'firing' ? -1 : 1));
}

export async function readAlerts(prometheus: string, get: PrometheusGet): Promise<AlertView[]> {
  return alertsFrom(await get(`${prometheus}/api/v1/alerts`));
}

/** One chart's data over the window ending at `nowMs`: its queries asked side by side. */
export async function readChart(
  prometheus: string,
  spec: ChartSpec,
  range: ReturnType<typeof chartRange>,
  get: PrometheusGet,
): Promise<ChartData> {
  const matrices = await Promise.all(
    spec.queries.map(async (q) => {
      const data = dataOf<{ resultType: string; result: MatrixSeries[] }>(
        await get(rangeUrl(prometheus, q, range)),
        spec.id,
      );
      return data.result;
    }),
  );
  return alignSeries(spec, matrices, range);
}

/** The GET the server uses: a 5 s deadline, JSON only, an error naming the URL's path. */
export const httpGet: PrometheusGet = async (url) => {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000), headers: { accept: 'application/json' } });
  if (r.status !== 200) throw new Error(`Prometheus answered ${new URL(url).pathname} with HTTP ${r.status}`);
  return r.json();
};
