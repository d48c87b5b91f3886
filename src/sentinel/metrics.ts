/**
 * The sentinel's metrics for Prometheus (issue 9), in the text exposition format, on a
 * private listener of its host's own address that the firewall opens to the monitor
 * host only. Present only when a monitor watches the stack (the sentinel's config then
 * has `metrics`).
 */
import { createServer, type Server } from 'node:http';
import type { MemberRole } from './keys.ts';
import type { SentinelState } from './sentinel.ts';

/** Every role a sentinel reports; each gets a series, 1 for the current one. */
const ROLES: readonly MemberRole[] = ['primary', 'replica', 'starting', 'fenced', 'diverged', 'down'];

/** Events the sentinel counts from its start. */
export interface SentinelCounters {
  /** Fences of its database that completed (lease lost, key lost, a writable non-leader). */
  readonly fences: number;
  /** Times it took the leader key to make its database the primary (bootstrap, failover, switchover). */
  readonly promotions: number;
}

/** The metric name the DatabaseFailover rule reads (src/render/alert-rules.ts). */
export const LEADER_TERM_METRIC = 'tandem_sentinel_leader_term';

const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function metric(name: string, type: 'gauge' | 'counter', help: string, samples: readonly string[]): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples];
}

/** `/metrics` for one sentinel's state and counters. */
export function renderSentinelMetrics(state: SentinelState, counters: SentinelCounters): string {
  const leader = state.leader;
  const lines = [
    ...metric(
      'tandem_sentinel_role',
      'gauge',
      "1 for the role of this sentinel's database now, 0 for the others.",
      ROLES.map((r) => `tandem_sentinel_role{role="${r}"} ${state.role === r ? 1 : 0}`),
    ),
    ...metric('tandem_sentinel_holds_leader', 'gauge', 'Whether this sentinel holds the leader key in etcd.', [
      `tandem_sentinel_holds_leader ${state.holdsLeader ? 1 : 0}`,
    ]),
    ...metric(
      LEADER_TERM_METRIC,
      'gauge',
      'Term of the leader key as this sentinel last read it, labelled with the host holding it; absent while there is no leader key.',
      leader ? [`${LEADER_TERM_METRIC}{leader="${label(leader.host)}"} ${leader.term}`] : [],
    ),
    ...metric(
      'tandem_sentinel_lease_renew_age_seconds',
      'gauge',
      "Seconds since the last renewal of the sentinel's etcd lease was sent; absent without a lease.",
      state.lastRenewAgoMs === null ? [] : [`tandem_sentinel_lease_renew_age_seconds ${state.lastRenewAgoMs / 1000}`],
    ),
    ...metric('tandem_sentinel_etcd_up', 'gauge', "Whether the sentinel's last tick reached etcd.", [
      `tandem_sentinel_etcd_up ${state.etcdOk ? 1 : 0}`,
    ]),
    ...metric('tandem_sentinel_fences_total', 'counter', 'Fences of its database since the sentinel started.', [
      `tandem_sentinel_fences_total ${counters.fences}`,
    ]),
    ...metric(
      'tandem_sentinel_promotions_total',
      'counter',
      'Times the sentinel took the leader key for its database (bootstrap, failover, switchover) since it started.',
      [`tandem_sentinel_promotions_total ${counters.promotions}`],
    ),
  ];
  return `${lines.join('\n')}\n`;
}

/** Serves `render()` at GET /metrics on `address:port`; anything else is 404. */
export function serveSentinelMetrics(
  listen: { readonly address: string; readonly port: number },
  render: () => string,
  onError: (err: Error) => void,
): Server {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(render());
  });
  // A metrics listener that cannot start must not stop the sentinel: it keeps deciding.
  server.on('error', onError);
  server.listen(listen.port, listen.address);
  return server;
}
