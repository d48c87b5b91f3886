/**
 * etcd 3.4's YAML config file for one member of `plan.etcd`. The whole cluster is named
 * in it (`initial-cluster`, state `new`): etcd reads those only to bootstrap an empty
 * data dir, so a restart with data rejoins as the same member whatever they say.
 *
 * Timing: etcd refuses a lease TTL under ceil(1.5 × election timeout) (its lessor's
 * minimum), so the 1 s leader lease of `database.leaseTtlS` needs an election timeout
 * of 666 ms at most: heartbeat 100 ms, election 600 ms (6 heartbeats, etcd's advice is
 * ≥ 5), which also makes a dead etcd leader replaced within about a second.
 */
import { servicePaths } from '../config/paths.ts';
import type { Plan, PlanEtcd } from '../config/types.ts';
import { etcdMemberTls } from '../engines/etcd.ts';
import { header, serviceOn } from './service.ts';

export const ETCD_HEARTBEAT_MS = 100;
export const ETCD_ELECTION_MS = 600;

/** A member's URL on one of its ports. */
export function etcdUrl(address: string, port: number): string {
  return `https://${address}:${port}`;
}

/** Every member's client URL: what etcdctl and the sentinels dial. */
export function etcdClientUrls(etcd: PlanEtcd): string[] {
  return etcd.members.map((m) => etcdUrl(m.address, etcd.clientPort));
}

/** `etcd.yaml` of the member on `hostName`. */
export function renderEtcd(plan: Plan, hostName: string): string {
  const { host, service } = serviceOn(plan, hostName, 'etcd');
  const etcd = plan.etcd;
  if (!etcd) throw new Error('the plan has no etcd (database.failover is off)');
  const paths = servicePaths(service);
  const tls = etcdMemberTls(paths);
  const member = etcd.members.find((m) => m.host === host.name)!;
  const peerUrl = etcdUrl(member.address, etcd.peerPort);
  const clientUrl = etcdUrl(member.address, etcd.clientPort);
  const security = [
    `  cert-file: ${tls.cert}`,
    `  key-file: ${tls.key}`,
    `  trusted-ca-file: ${tls.ca}`,
    '  client-cert-auth: true',
  ];
  return [
    header('#', `etcd member ${member.name} (${member.address}) of stack ${plan.name}`),
    `name: ${member.name}`,
    `data-dir: ${paths.data}`,
    `heartbeat-interval: ${ETCD_HEARTBEAT_MS}`,
    `election-timeout: ${ETCD_ELECTION_MS}`,
    // A member coming back from a partition or a host death campaigns with a raised term
    // and, without pre-vote, deposes a healthy leader: a chaos heal on netns cost the
    // primary its lease renewal for 611 ms and fenced it. Pre-vote (etcd 3.5's default)
    // lets it campaign only when a majority would vote for it.
    'pre-vote: true',
    // Only the host's own address: never 0.0.0.0 (other loopback stacks share the ports).
    `listen-peer-urls: ${peerUrl}`,
    `listen-client-urls: ${clientUrl}`,
    `initial-advertise-peer-urls: ${peerUrl}`,
    `advertise-client-urls: ${clientUrl}`,
    `initial-cluster: ${etcd.members.map((m) => `${m.name}=${etcdUrl(m.address, etcd.peerPort)}`).join(',')}`,
    // The token keeps two stacks' members from ever joining each other's cluster.
    `initial-cluster-token: tandem-${plan.name}`,
    'initial-cluster-state: new',
    'client-transport-security:',
    ...security,
    'peer-transport-security:',
    ...security,
    'enable-v2: false',
    '# The sentinels speak the v3 JSON gateway; with a config file its default is off.',
    'enable-grpc-gateway: true',
    'logger: zap',
    'log-outputs: [stderr]',
    '',
  ].join('\n');
}
