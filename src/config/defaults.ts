/** The design's defaults: the textbook's www.foobar.com on redundant servers. */
import type { HostConfig } from './types.ts';

export const DEFAULT_HOSTS: readonly HostConfig[] = Object.freeze([
  { name: 'lb-1', roles: ['lb'] },
  { name: 'lb-2', roles: ['lb'] },
  { name: 'server-1', roles: ['web', 'app', 'db'] },
  { name: 'server-2', roles: ['web', 'app', 'db'] },
  // Prometheus, Alertmanager and the blackbox probe; every host gets a node exporter (issue 9).
  { name: 'monitor', roles: ['monitor'] },
]);

/** Loopback has no floating IP, so its default has a single load balancer. */
export const DEFAULT_LOOPBACK_HOSTS: readonly HostConfig[] = Object.freeze(
  DEFAULT_HOSTS.filter((h) => h.name !== 'lb-2'),
);

/** ssh hosting has no default hosts (each must say how to reach it): the netns design is what validation names. */
export function defaultHostsFor(hosting: 'loopback' | 'netns' | 'ssh'): readonly HostConfig[] {
  return hosting === 'loopback' ? DEFAULT_LOOPBACK_HOSTS : DEFAULT_HOSTS;
}

/** The primary when the user keeps the default hosts. */
export const DEFAULT_PRIMARY = 'server-2';

export const DEFAULTS = {
  name: 'foobar',
  domain: 'foobar.com',
  aliases: ['www'],
  hosting: 'loopback',
  stateDir: '.tandem',
  /** ssh: only hands out an address to a host that has no `ssh.address` (validation refuses that). */
  subnet: { loopback: '127.60.0.0/24', netns: '10.77.0.0/24', ssh: '10.77.0.0/24' },
  /** Host addresses are handed out from this offset in the subnet. */
  firstHostOffset: 11,
  /** netns: the bridge (root namespace) is .1, the client .2, the VIP .10. */
  bridgeOffset: 1,
  clientOffset: 2,
  vipOffset: 10,
  lb: {
    balance: 'roundrobin',
    mode: 'active-active',
    port: 80,
    maxconn: 4096,
    httpsPort: 443,
    preempt: false,
    advertIntervalMs: 100,
    exposeHostAddresses: false,
    /** Window of `lb.rateLimit` when it names none. */
    rateLimitPerSeconds: 10,
  },
  web: { port: 80, workers: 1 },
  app: {
    port: 3000,
    adminPort: 3001,
    bodyLimit: 65536,
    start: ['node', '--import', 'tsx', 'server.ts'],
    coalesceReads: true,
    keepReleases: 5,
    slotOffset: 100,
  },
  firewall: { sshFrom: [] },
  /** ssh hosting: a lab's login name when `hosts[].ssh.user` is unset (elsewhere ssh chooses). */
  ssh: { labUser: 'root' },
  database: {
    port: 3306,
    name: 'foobar',
    semiSync: true,
    semiSyncTimeoutMs: 1000,
    bufferPoolMb: 128,
    leaseTtlS: 1,
    reseedRetryS: 60,
  },
  /** Failover is on by default from this many db hosts. */
  failoverMinDbHosts: 2,
  /** The monitor host's engines (issue 9). */
  monitor: {
    prometheusPort: 9090,
    alertmanagerPort: 9093,
    blackboxPort: 9115,
    webhookPort: 9095,
    exporterPorts: { node: 9100, mysqld: 9104, nginx: 9113, sentinel: 9109 },
    stubStatusPort: 8080,
    /** Short, so that an alert can fire within seconds of a fault. */
    scrapeIntervalS: 5,
    bounds: { replicaLagS: 10, p99LatencyS: 0.5, errorRatio: 0.05 },
  },
  /** Backups on the backup host (issue 10): the monitor host unless `backup.host` names another. */
  backup: {
    fullEveryHours: 24,
    incrementalEveryMinutes: 60,
    /** Full backups kept, each with the incrementals taken on it. */
    keepFull: 7,
    /** The backup agent on the backup host: `tandem backup` and the schedule go through it. */
    agentPort: 9096,
    /** The backup source beside each database: streams mariadb-backup to the agent only. */
    sourcePort: 9097,
    /** The binlog archiver's metrics and state, on the backup host. */
    archiverPort: 9098,
  },
  etcd: {
    clientPort: 2379,
    peerPort: 2380,
    /** Members placed by default (fewer when the stack has fewer hosts). */
    members: 3,
  },
} as const;
