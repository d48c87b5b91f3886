/**
 * `tandem dashboard [--port N] [--for SECONDS]`: serves the dashboard (src/dashboard/) on
 * 127.0.0.1, prints its URL, and runs until Ctrl-C (or for SECONDS, for tests and scripts).
 */
import { chartAssets } from '../chaos/report-html.ts';
import { noMonitorMessage, buildDashboard } from '../dashboard/server.ts';
import { httpGet } from '../dashboard/prometheus-api.ts';
import { loadPlan } from '../orchestrate/config-loader.ts';
import { status } from '../orchestrate/status.ts';
import type { Args } from './args.ts';

/** The port when none is given; `--port 0` takes any free one. */
export const DEFAULT_DASHBOARD_PORT = 7070;

export async function runDashboard(args: Args, out: (text: string) => void): Promise<number> {
  const plan = await loadPlan(args.config);
  const app = buildDashboard({ plan, status: () => status(plan), prometheusGet: httpGet, assets: chartAssets() });
  const address = await app.listen({ host: '127.0.0.1', port: args.port ?? DEFAULT_DASHBOARD_PORT });
  out(`dashboard: ${address}/  (stack ${plan.name}; Ctrl-C stops it)`);
  if (!plan.monitor) out(`note: ${noMonitorMessage(plan)}`);
  else out(`reads Prometheus at http://${plan.monitor.address}:${plan.monitor.prometheusPort}/`);
  await new Promise<void>((resolve) => {
    const timer = args.forMs === undefined ? undefined : setTimeout(() => stop(), args.forMs);
    const stop = () => {
      clearTimeout(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await app.close();
  out('dashboard: stopped.');
  return 0;
}
