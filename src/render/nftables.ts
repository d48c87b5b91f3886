/**
 * One nftables ruleset per host (netns hosting), derived from the Plan: input and
 * forward drop by default; a host accepts replies, its own loopback traffic, ping, and
 * only the flows its roles need. `firewallRules()` is the structured list (`tandem plan`
 * shows it, tests read it); `renderNftables()` turns it into the file `nft -f` loads.
 *
 * IPv4 only: the stack uses no IPv6, and an `inet` table with `policy drop` drops it.
 * ARP is another family (`arp`), untouched: gratuitous ARPs for the VIP pass.
 */
import { hostOf } from '../config/resolve.ts';
import { slotPorts } from '../deploy/releases.ts';
import type { Plan, PlanHost } from '../config/types.ts';
import { HAPROXY_METRICS_PORT } from './haproxy.ts';
import { RESEED_PORT } from '../sentinel/reseed-plan.ts';
import { header, lbAddresses } from './service.ts';

/** The table tandem owns in every namespace (`nft list table inet tandem`). */
export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'tandem';

const SSH_PORT = 22;

/** One `accept` rule of a host's input chain. */
export interface FirewallRule {
  /** What the rule lets in and why, e.g. `web: from load balancers`. */
  readonly comment: string;
  readonly protocol: 'tcp' | 'udp' | 'vrrp';
  /** Destination ports (tcp and udp only). */
  readonly ports: readonly number[];
  /** Source addresses or subnets; `undefined`: anyone. Never empty (such a rule is left out). */
  readonly from?: readonly string[];
  /** Destination addresses on this host; `undefined`: any of them. */
  readonly to?: readonly string[];
}

const addressesOf = (hosts: readonly PlanHost[]) => hosts.map((h) => h.address);

/**
 * The accept rules of `hostName` beyond the fixed ones every host has (replies,
 * loopback, ping). Local traffic (nginx → the app on the same host, the app → its own
 * MariaDB) arrives over `lo` and needs no rule, so a host never lists itself.
 */
export function firewallRules(plan: Plan, hostName: string): FirewallRule[] {
  const host = hostOf(plan, hostName);
  const others = (role: PlanHost['roles'][number]) =>
    plan.hosts.filter((h) => h.roles.includes(role) && h.name !== host.name);
  const rules: FirewallRule[] = [];
  const add = (rule: FirewallRule) => {
    if (rule.from?.length !== 0) rules.push(rule);
  };
  const has = (role: PlanHost['roles'][number]) => host.roles.includes(role);
  const { lb } = plan;

  if (has('lb')) {
    const publicAddresses = [...(lb.vip ? [lb.vip] : []), ...(lb.bindHostAddresses || !lb.vip ? [host.address] : [])];
    const ports = plan.tls.enabled ? [lb.port, lb.httpsPort] : [lb.port];
    add({
      comment: `lb: ${plan.tls.enabled ? 'HTTP and HTTPS' : 'HTTP'} from anyone`,
      protocol: 'tcp',
      ports,
      to: publicAddresses,
    });
    if (lb.vrrp)
      add({
        comment: 'lb: VRRP from the peer load balancer',
        protocol: 'vrrp',
        ports: [],
        from: addressesOf(others('lb')),
      });
    // The stats page and /metrics: for tandem itself (the root namespace, behind the
    // bridge address) until a monitor host exists; then from the monitor as well.
    if (plan.network.bridgeAddress) {
      add({
        comment: 'lb: stats and metrics from tandem (root namespace)',
        protocol: 'tcp',
        ports: [HAPROXY_METRICS_PORT],
        from: [plan.network.bridgeAddress],
        to: [host.address],
      });
    }
  }
  if (has('web')) {
    add({ comment: 'web: from load balancers', protocol: 'tcp', ports: [plan.web.port], from: lbAddresses(plan) });
  }
  if (has('app')) {
    const webs = plan.hosts.filter(
      (h) => h.name !== host.name && (plan.web.upstreams[h.name] ?? []).some((u) => u.address === host.address),
    );
    add({
      comment: 'app: from the web servers that proxy to it',
      protocol: 'tcp',
      // Both slots: a deploy runs the new release beside the old (deploy/releases.ts).
      ports: [slotPorts(plan, 'a').port, slotPorts(plan, 'b').port],
      from: addressesOf(webs),
    });
    // The private listener (health, readiness, metrics) admits no other host but the
    // monitor: the load balancers' readiness check reaches it through nginx, over `lo`.
  }
  if (has('db')) {
    add({ comment: 'db: from app hosts', protocol: 'tcp', ports: [plan.db.port], from: addressesOf(others('app')) });
    add({
      comment: 'db: replication between database hosts',
      protocol: 'tcp',
      ports: [plan.db.port],
      from: addressesOf(others('db')),
    });
    // The binlog archiver on the backup host streams the primary's binlog (issue 10).
    const archiver = plan.services.find((s) => s.kind === 'binlog-archiver');
    if (archiver && archiver.host !== host.name)
      add({
        comment: 'db: binlog archive from the backup host',
        protocol: 'tcp',
        ports: [plan.db.port],
        from: [archiver.address],
      });
    // A diverged database receives its reseed from the primary here (src/sentinel/reseed.ts);
    // nothing listens on it but during a reseed, and then only for the donor's token.
    if (plan.db.failover)
      add({
        comment: 'db: reseed stream between database hosts',
        protocol: 'tcp',
        ports: [RESEED_PORT],
        from: addressesOf(others('db')),
      });
  }
  const etcd = plan.etcd;
  if (etcd?.members.some((m) => m.host === host.name)) {
    const peers = etcd.members.filter((m) => m.host !== host.name).map((m) => m.address);
    add({ comment: 'etcd: raft from the other members', protocol: 'tcp', ports: [etcd.peerPort], from: peers });
    // The sentinels run beside the databases; tandem asks from inside a member's namespace.
    const clients = [...new Set([...peers, ...addressesOf(others('db'))])];
    add({
      comment: 'etcd: clients from the other members and the db hosts (sentinels)',
      protocol: 'tcp',
      ports: [etcd.clientPort],
      from: clients,
    });
  }
  rules.push(...monitorRules(plan, host));
  rules.push(...backupRules(plan, host));
  if (plan.firewall.sshFrom.length > 0) {
    add({ comment: 'ssh: from firewall.sshFrom', protocol: 'tcp', ports: [SSH_PORT], from: plan.firewall.sshFrom });
  }
  return rules;
}

/**
 * The ports Prometheus scrapes on a host: its exporters, HAProxy's metrics, the app's
 * private listener, etcd's client port (its /metrics) and the sentinel's metrics.
 */
function scrapePorts(plan: Plan, host: PlanHost): number[] {
  const ports = plan.services
    .filter((s) => s.host === host.name)
    .flatMap((s) => {
      switch (s.kind) {
        case 'node-exporter':
        case 'mysqld-exporter':
        case 'nginx-exporter':
        case 'etcd':
        case 'sentinel':
        case 'backup-agent':
        case 'binlog-archiver':
          return [s.port];
        case 'haproxy':
          return [HAPROXY_METRICS_PORT];
        case 'app':
          return [slotPorts(plan, 'a').adminPort, slotPorts(plan, 'b').adminPort];
        default:
          return [];
      }
    });
  return [...new Set(ports)].sort((a, b) => a - b);
}

/**
 * With a monitor host: every scrape port open to it alone (its own targets it reaches
 * over `lo`), and Prometheus' and Alertmanager's UI and API to tandem in the root
 * namespace (the bridge address), never to the client namespace.
 */
function monitorRules(plan: Plan, host: PlanHost): FirewallRule[] {
  const monitor = plan.monitor;
  if (!monitor) return [];
  if (host.name !== monitor.host) {
    const ports = scrapePorts(plan, host);
    return ports.length === 0
      ? []
      : [
          {
            comment: 'monitor: scrapes from the monitor host',
            protocol: 'tcp',
            ports,
            from: [monitor.address],
            to: [host.address],
          },
        ];
  }
  if (!plan.network.bridgeAddress) return [];
  return [
    {
      comment: 'monitor: Prometheus and Alertmanager from tandem (root namespace)',
      protocol: 'tcp',
      ports: [monitor.prometheusPort, monitor.alertmanagerPort],
      from: [plan.network.bridgeAddress],
      to: [host.address],
    },
  ];
}

/**
 * Backups (issue 10): each database's backup source to the backup host alone; the backup
 * agent to tandem in the root namespace (the bridge address), never to the internet.
 */
function backupRules(plan: Plan, host: PlanHost): FirewallRule[] {
  const backup = plan.backup;
  if (!backup) return [];
  const rules: FirewallRule[] = [];
  if (host.roles.includes('db'))
    rules.push({
      comment: 'backup: the backup source, from the backup host',
      protocol: 'tcp',
      ports: [backup.sourcePort],
      from: [backup.address],
      to: [host.address],
    });
  if (host.name === backup.host && plan.network.bridgeAddress)
    rules.push({
      comment: 'backup: the backup agent, from tandem (root namespace)',
      protocol: 'tcp',
      ports: [backup.agentPort],
      from: [plan.network.bridgeAddress],
      to: [host.address],
    });
  return rules;
}

/** `{ a, b }` for several values, `a` for one. */
function set(values: readonly (string | number)[]): string {
  return values.length === 1 ? String(values[0]) : `{ ${values.join(', ')} }`;
}

/** The nft statement of one rule (IPv4: the config accepts IPv4 addresses and subnets only). */
function ruleLine(rule: FirewallRule): string {
  const parts = [
    ...(rule.from ? [`ip saddr ${set(rule.from)}`] : []),
    ...(rule.to ? [`ip daddr ${set(rule.to)}`] : []),
    ...(rule.protocol === 'vrrp'
      ? ['ip protocol vrrp']
      : // Without an address match, pin the family anyway: IPv4 only.
        [...(rule.from || rule.to ? [] : ['meta nfproto ipv4']), `${rule.protocol} dport ${set(rule.ports)}`]),
    'accept',
    `comment ${JSON.stringify(rule.comment)}`,
  ];
  return `        ${parts.join(' ')}`;
}

/** The ruleset file of `hostName`; loading it twice with `nft -f` leaves one copy. */
export function renderNftables(plan: Plan, hostName: string): string {
  const host = hostOf(plan, hostName);
  const lines = [
    header('#', `nftables for ${host.name} (${host.address}) of stack ${plan.name}`),
    // One transaction: create the table if missing, delete it, define it afresh. The
    // first load and every later one give the same ruleset, with no window in between.
    `table ${NFT_FAMILY} ${NFT_TABLE}`,
    `delete table ${NFT_FAMILY} ${NFT_TABLE}`,
    '',
    `table ${NFT_FAMILY} ${NFT_TABLE} {`,
    '    chain input {',
    '        type filter hook input priority filter; policy drop;',
    '        ct state established,related accept comment "replies to connections this host made"',
    '        ct state invalid drop comment "packets no connection explains"',
    '        iif "lo" accept comment "local traffic: nginx to its app, the app to its MariaDB, probes inside the host"',
    '        icmp type echo-request accept comment "ping"',
    ...firewallRules(plan, hostName).map(ruleLine),
    '    }',
    '',
    // No host routes for another: nothing is forwarded.
    '    chain forward {',
    '        type filter hook forward priority filter; policy drop;',
    '    }',
    '',
    '    chain output {',
    '        type filter hook output priority filter; policy accept;',
    '    }',
    '}',
    '',
  ];
  return lines.join('\n');
}
