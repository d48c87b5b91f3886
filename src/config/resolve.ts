/**
 * `resolve()`: a valid StackConfig → one frozen Plan with every host, address, port,
 * directory and service spelled out. Pure: no I/O. The Plan holds no secret: the
 * secrets travel apart (hosts/secrets.ts), handed only to the steps that need one.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ConfigError } from '../errors.ts';
import { DEFAULT_PRIMARY, DEFAULTS, defaultHostsFor } from './defaults.ts';
import { defaultEtcdHosts, failoverOf } from './etcd-placement.ts';
import type {
  HostConfig,
  Hosting,
  Plan,
  PlanBackend,
  PlanBackup,
  PlanEtcd,
  PlanHost,
  PlanLab,
  PlanMonitor,
  PlanSsh,
  PlanService,
  Role,
  StackConfig,
} from './types.ts';
import { formatIpv4, formatIssues, parseIpv4, parseSubnet, validateConfig } from './validate.ts';

export interface ResolveOptions {
  /** Directory of the config file. */
  projectDir: string;
  /** Directory of the bundled foobar.com app (the default code base). */
  bundledAppDir: string;
  /** What an unset `hosting` means on this machine (netns when root). @default 'loopback' */
  defaultHosting?: Hosting;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function assignAddresses(
  hosts: readonly HostConfig[],
  subnetText: string,
  reserved: readonly string[],
): Map<string, string> {
  const subnet = parseSubnet(subnetText);
  if (!subnet) throw new ConfigError(`network/subnet: '${subnetText}' is not a subnet`);
  const taken = new Set([...reserved, ...hosts.map((h) => h.address).filter((a): a is string => a !== undefined)]);
  const result = new Map<string, string>();
  let next = subnet.base + DEFAULTS.firstHostOffset;
  const end = subnet.base + 2 ** (32 - subnet.bits) - 1;
  for (const host of hosts) {
    if (host.address) {
      result.set(host.name, host.address);
      continue;
    }
    while (taken.has(formatIpv4(next))) next++;
    if (next >= end) throw new ConfigError(`network/subnet: ${subnetText} has no free address left for ${host.name}`);
    const address = formatIpv4(next++);
    taken.add(address);
    result.set(host.name, address);
  }
  return result;
}

/** Names the services each role runs, in start order. */
const SERVICE_OF_ROLE: Record<Exclude<Role, 'monitor'>, PlanService['kind']> = {
  db: 'mariadb',
  app: 'app',
  web: 'nginx',
  lb: 'haproxy',
};
/** The roles that run one service each; the monitor host's engines are added apart (issue 9). */
const SERVICE_ROLES = ['db', 'app', 'web', 'lb'] as const;
const ROLE_ORDER: Role[] = [...SERVICE_ROLES, 'monitor'];

/**
 * Interface names are at most 15 characters: `tn` + 5 hex of the stack's name + a
 * suffix. Derived from the name, like the namespaces (`tandem-<name>-<host>`), so the
 * next `up` of a stack finds and repairs whatever a crashed run of it left behind.
 */
export function linkPrefix(name: string): string {
  return `tn${createHash('sha1').update(name).digest('hex').slice(0, 5)}`;
}

/** The lab's interfaces: `tl` + 5 hex of the stack's name + a suffix, apart from its netns links. */
export function labLinkPrefix(name: string): string {
  return `tl${createHash('sha1').update(name).digest('hex').slice(0, 5)}`;
}

/** A host's SSH target: what the config sets, files made absolute; a lab's key and known_hosts by default. */
function sshOf(h: HostConfig, projectDir: string, labDir: string | undefined): PlanSsh | undefined {
  if (!h.ssh) return undefined;
  const file = (f: string | undefined, labDefault: string) =>
    f !== undefined ? path.resolve(projectDir, f) : labDir ? path.join(labDir, labDefault) : undefined;
  const identityFile = file(h.ssh.identityFile, 'id_ed25519');
  const knownHostsFile = file(h.ssh.knownHostsFile, 'known_hosts');
  return {
    address: h.ssh.address,
    ...(h.ssh.user !== undefined ? { user: h.ssh.user } : labDir ? { user: DEFAULTS.ssh.labUser } : {}),
    ...(h.ssh.port !== undefined ? { port: h.ssh.port } : {}),
    ...(identityFile ? { identityFile } : {}),
    ...(knownHostsFile ? { knownHostsFile } : {}),
  };
}

/** The lab on this machine (`lab` set on ssh hosting): a namespace, link and sshd per host. */
function labOf(config: StackConfig, hosts: readonly PlanHost[], name: string, stateDir: string): PlanLab | undefined {
  if (config.hosting !== 'ssh' || !config.lab?.subnet) return undefined;
  const subnet = parseSubnet(config.lab.subnet)!;
  const prefix = labLinkPrefix(name);
  return {
    subnet: `${formatIpv4(subnet.base)}/${subnet.bits}`,
    prefixLength: subnet.bits,
    bridge: `${prefix}br`,
    bridgeAddress: formatIpv4(subnet.base + DEFAULTS.bridgeOffset),
    dir: path.join(stateDir, 'lab'),
    hosts: hosts.map((h, i) => ({
      name: h.name,
      address: h.ssh!.address,
      port: h.ssh!.port ?? 22,
      namespace: `tandem-lab-${name}-${h.name}`,
      link: `${prefix}h${i}`,
    })),
  };
}

/** The stack's state folder; known before resolving, since the secrets live in it. */
export function stateDirOf(config: StackConfig, projectDir: string): string {
  return path.resolve(projectDir, config.stateDir ?? DEFAULTS.stateDir);
}

export function secretsFileOf(stateDir: string): string {
  return path.join(stateDir, 'secrets.json');
}

export function resolve(config: StackConfig, opts: ResolveOptions): Plan {
  const issues = validateConfig(config, opts.defaultHosting);
  if (issues.length > 0)
    throw new ConfigError(`the config has ${issues.length} problem(s):\n${formatIssues(issues)}`, issues);

  const hosting: Hosting = config.hosting ?? opts.defaultHosting ?? 'loopback';
  const netns = hosting === 'netns';
  // ssh: a host's address is the one ssh reaches, unless it says otherwise.
  const hostsConfig = (config.hosts ?? defaultHostsFor(hosting)).map((h) =>
    h.ssh && h.address === undefined && parseIpv4(h.ssh.address) !== undefined ? { ...h, address: h.ssh.address } : h,
  );
  const stateDir = stateDirOf(config, opts.projectDir);
  const labDir = hosting === 'ssh' && config.lab ? path.join(stateDir, 'lab') : undefined;
  const name = config.name ?? DEFAULTS.name;
  const subnetText = config.network?.subnet ?? DEFAULTS.subnet[hosting];
  const subnet = parseSubnet(subnetText)!;
  const at = (offset: number) => formatIpv4(subnet.base + offset);
  const vip = netns ? (config.network?.vip ?? at(DEFAULTS.vipOffset)) : undefined;
  const reserved = netns ? [at(DEFAULTS.bridgeOffset), at(DEFAULTS.clientOffset), vip!] : [];
  const addresses = assignAddresses(hostsConfig, subnetText, reserved);
  const prefix = linkPrefix(name);
  const hosts: PlanHost[] = hostsConfig.map((h, i) => ({
    name: h.name,
    address: addresses.get(h.name)!,
    roles: ROLE_ORDER.filter((r) => h.roles.includes(r)),
    dir: path.join(stateDir, 'hosts', h.name),
    ...(netns ? { namespace: `tandem-${name}-${h.name}`, link: `${prefix}h${i}` } : {}),
    ...(h.ssh ? { ssh: sshOf(h, opts.projectDir, labDir) } : {}),
  }));
  const lab = labOf({ ...config, hosting }, hosts, name, stateDir);
  const client: PlanHost | undefined = netns
    ? {
        name: 'client',
        address: at(DEFAULTS.clientOffset),
        roles: [],
        dir: path.join(stateDir, 'hosts', 'client'),
        namespace: `tandem-${name}-client`,
        link: `${prefix}c`,
      }
    : undefined;
  const having = (role: Role) => hosts.filter((h) => h.roles.includes(role));

  const lb = { ...DEFAULTS.lb, ...config.lb };
  const web = { ...DEFAULTS.web, ...config.web };
  const appPort = config.app?.port ?? DEFAULTS.app.port;
  const database = { ...DEFAULTS.database, ...config.database };
  const primary = config.database?.primary ?? DEFAULT_PRIMARY;
  const dbHosts = having('db');
  const monitorHost = having('monitor')[0];
  const backupHost = config.backup?.host ? hosts.find((h) => h.name === config.backup!.host) : monitorHost;

  const failover = failoverOf(config);
  const tlsDir = path.join(stateDir, 'tls');
  const caCert = path.join(tlsDir, 'ca.crt');
  const etcd = failover ? resolveEtcd(config, hostsConfig, hosts, name, tlsDir, caCert) : undefined;

  const portOf: Record<PlanService['kind'], number> = {
    etcd: etcd?.clientPort ?? DEFAULTS.etcd.clientPort,
    // The sentinel talks to its database's socket and to etcd; it listens only to serve
    // its metrics, for a monitor.
    sentinel: monitorHost ? DEFAULTS.monitor.exporterPorts.sentinel : 0,
    mariadb: database.port,
    app: appPort,
    nginx: web.port,
    haproxy: lb.port,
    keepalived: 0,
    dnsmasq: 53,
    prometheus: DEFAULTS.monitor.prometheusPort,
    alertmanager: DEFAULTS.monitor.alertmanagerPort,
    'blackbox-exporter': DEFAULTS.monitor.blackboxPort,
    'node-exporter': DEFAULTS.monitor.exporterPorts.node,
    'mysqld-exporter': DEFAULTS.monitor.exporterPorts.mysqld,
    'nginx-exporter': DEFAULTS.monitor.exporterPorts.nginx,
    'alert-receiver': DEFAULTS.monitor.webhookPort,
    'backup-source': DEFAULTS.backup.sourcePort,
    'backup-agent': DEFAULTS.backup.agentPort,
    'binlog-archiver': DEFAULTS.backup.archiverPort,
  };
  const upstreams: Record<string, { address: string; port: number; backup: boolean }[]> = {};
  for (const h of having('web')) {
    const local = h.roles.includes('app');
    // The local app first; the others as backups, so a POST arriving while the local
    // app restarts is passed on instead of failing (nothing was sent yet).
    const apps = local ? [h, ...having('app').filter((a) => a !== h)] : having('app');
    upstreams[h.name] = apps.map((a) => ({ address: a.address, port: appPort, backup: local && a !== h }));
  }
  const serviceAt = (h: PlanHost, kind: PlanService['kind']) => ({
    id: `${h.name}/${kind}`,
    host: h.name,
    kind,
    address: h.address,
    port: portOf[kind],
    dir: path.join(h.dir, kind),
  });
  const created = [
    // etcd first: the sentinels beside the databases need it.
    ...hosts.filter((h) => etcd?.members.some((m) => m.host === h.name)).map((h) => serviceAt(h, 'etcd')),
    ...SERVICE_ROLES.flatMap((role) => having(role).map((h) => serviceAt(h, SERVICE_OF_ROLE[role]))),
  ];
  // A sentinel beside each database: it decides whether that database is the primary.
  if (failover) created.push(...dbHosts.map((h) => serviceAt(h, 'sentinel')));
  if (netns) {
    created.push(...having('lb').map((h) => serviceAt(h, 'keepalived')));
    created.push(serviceAt(client!, 'dnsmasq'));
  }
  // Exporters exist only for a monitor to scrape: a stack without one runs none.
  if (monitorHost) {
    created.push(
      ...hosts.map((h) => serviceAt(h, 'node-exporter')),
      ...dbHosts.map((h) => serviceAt(h, 'mysqld-exporter')),
      ...having('web').map((h) => serviceAt(h, 'nginx-exporter')),
      ...(['alert-receiver', 'alertmanager', 'blackbox-exporter', 'prometheus'] as const).map((k) =>
        serviceAt(monitorHost, k),
      ),
    );
  }
  // Backups (issue 10): a source beside each database, the agent on the backup host.
  if (backupHost) {
    created.push(...dbHosts.map((h) => serviceAt(h, 'backup-source')), serviceAt(backupHost, 'backup-agent'));
  }
  // The binlog archive on the backup host: it follows whichever database is the primary.
  if (backupHost) created.push(serviceAt(backupHost, 'binlog-archiver'));
  const idsOf = (kind: PlanService['kind'], hostNames?: readonly string[]) =>
    created.filter((s) => s.kind === kind && (!hostNames || hostNames.includes(s.host))).map((s) => s.id);
  const appHostsOf = (web: string) =>
    hosts.filter((a) => upstreams[web]!.some((u) => u.address === a.address && !u.backup)).map((a) => a.name);
  const afterOf: Record<PlanService['kind'], (host: string) => string[]> = {
    mariadb: (host) => (host === primary ? [] : idsOf('mariadb', [primary])),
    app: () => idsOf('mariadb'),
    nginx: (host) => idsOf('app', appHostsOf(host)),
    haproxy: () => idsOf('nginx'),
    keepalived: (host) => idsOf('haproxy', [host]),
    dnsmasq: () => [],
    // Members start side by side: a member's health needs a quorum of the others.
    etcd: () => [],
    sentinel: (host) => [...idsOf('mariadb', [host]), ...idsOf('etcd')],
    // An exporter starts beside what it reads; Prometheus after what it sends alerts to,
    // and after the LBs' keepalived (the last to start): before their first VRRP notify
    // the VIP rules would see no LB holding the VIP and page during every `up`.
    'node-exporter': () => [],
    'mysqld-exporter': (host) => idsOf('mariadb', [host]),
    'nginx-exporter': (host) => idsOf('nginx', [host]),
    'alert-receiver': () => [],
    'backup-source': (host) => idsOf('mariadb', [host]),
    'backup-agent': () => idsOf('backup-source'),
    alertmanager: () => idsOf('alert-receiver'),
    'blackbox-exporter': () => [],
    prometheus: () => [...idsOf('alertmanager'), ...idsOf('blackbox-exporter'), ...idsOf('keepalived')],
    'binlog-archiver': () => idsOf('mariadb'),
  };
  const services: PlanService[] = created.map((s) => ({ ...s, after: afterOf[s.kind](s.host) }));
  const backends: PlanBackend[] = having('web').map((h, i) => ({
    name: h.name,
    address: h.address,
    port: web.port,
    backup: lb.mode === 'active-passive' && i > 0,
  }));
  const domain = config.domain ?? DEFAULTS.domain;
  const aliases = config.aliases ?? [...DEFAULTS.aliases];
  const lbHosts = having('lb');
  const hostnames = [domain, ...aliases.map((a) => `${a}.${domain}`)];
  const tlsEnabled = config.tls?.enabled ?? netns;
  const userCert = config.tls?.cert !== undefined;
  // netns: the client resolves the domain through dnsmasq; loopback: no DNS, the LB's address.
  const siteName = hostnames.includes(`www.${domain}`) ? `www.${domain}` : domain;
  const publicHost = netns ? siteName : lbHosts[0]!.address;
  const scheme = tlsEnabled ? 'https' : 'http';
  const publicPort = tlsEnabled ? lb.httpsPort : lb.port;
  const plan: Plan = {
    name,
    domain,
    hostnames,
    hosting,
    projectDir: opts.projectDir,
    stateDir,
    secretsFile: secretsFileOf(stateDir),
    url: `${scheme}://${publicHost}${publicPort === (tlsEnabled ? 443 : 80) ? '' : `:${publicPort}`}/`,
    hosts,
    ...(lab ? { lab } : {}),
    ...(client ? { client } : {}),
    services,
    network: {
      subnet: `${formatIpv4(subnet.base)}/${subnet.bits}`,
      prefixLength: subnet.bits,
      ...(netns ? { bridge: `${prefix}br`, bridgeAddress: at(DEFAULTS.bridgeOffset) } : {}),
      hostInterface: 'eth0',
    },
    lb: {
      balance: lb.balance,
      mode: lb.mode,
      port: lb.port,
      maxconn: lb.maxconn,
      httpsPort: lb.httpsPort,
      backends,
      ...(vip ? { vip } : {}),
      bindHostAddresses: !netns || lb.exposeHostAddresses,
      ...(config.lb?.rateLimit
        ? {
            rateLimit: {
              requests: config.lb.rateLimit.requests,
              perSeconds: config.lb.rateLimit.perSeconds ?? DEFAULTS.lb.rateLimitPerSeconds,
            },
          }
        : {}),
      ...(netns
        ? {
            vrrp: {
              routerId: 1 + (Number.parseInt(prefix.slice(2), 16) % 254),
              advertIntervalMs: lb.advertIntervalMs,
              preempt: lb.preempt,
              priorities: Object.fromEntries(lbHosts.map((h, i) => [h.name, 150 - 50 * i])),
            },
          }
        : {}),
    },
    tls: {
      enabled: tlsEnabled,
      dir: tlsDir,
      caCert,
      caKey: path.join(tlsDir, 'ca.key'),
      cert: userCert ? path.resolve(opts.projectDir, config.tls!.cert!) : path.join(tlsDir, 'site.crt'),
      key: userCert ? path.resolve(opts.projectDir, config.tls!.key!) : path.join(tlsDir, 'site.key'),
      pem: path.join(tlsDir, 'site.pem'),
      userSupplied: userCert,
    },
    dns: {
      enabled: netns,
      records: netns
        ? [
            ...hostnames.map((n) => ({ name: n, address: vip! })),
            ...hosts.flatMap((h) => [
              { name: h.name, address: h.address },
              { name: `${h.name}.${domain}`, address: h.address },
            ]),
          ]
        : [],
    },
    firewall: { enabled: netns, sshFrom: config.firewall?.sshFrom ?? [...DEFAULTS.firewall.sshFrom] },
    web: { port: web.port, workers: web.workers, upstreams },
    app: {
      port: appPort,
      adminPort: config.app?.adminPort ?? DEFAULTS.app.adminPort,
      codeDir: config.app?.codeDir ? path.resolve(opts.projectDir, config.app.codeDir) : opts.bundledAppDir,
      start: config.app?.start ?? [...DEFAULTS.app.start],
      bodyLimit: config.app?.bodyLimit ?? DEFAULTS.app.bodyLimit,
      coalesceReads: config.app?.coalesceReads ?? DEFAULTS.app.coalesceReads,
      ...(config.app?.build ? { build: [...config.app.build] } : {}),
      keepReleases: config.app?.keepReleases ?? DEFAULTS.app.keepReleases,
      slotOffset: config.app?.slotOffset ?? DEFAULTS.app.slotOffset,
    },
    db: {
      port: database.port,
      name: database.name,
      primary,
      replicas: dbHosts.filter((h) => h.name !== primary).map((h) => h.name),
      semiSync: database.semiSync,
      semiSyncTimeoutMs: database.semiSyncTimeoutMs,
      bufferPoolMb: database.bufferPoolMb,
      users: {
        app: 'tandem_app',
        replication: 'tandem_repl',
        monitor: 'tandem_monitor',
        backup: 'tandem_backup',
        archive: 'tandem_archive',
      },
      serverIds: Object.fromEntries(dbHosts.map((h, i) => [h.name, i + 1])),
      failover,
      leaseTtlS: database.leaseTtlS,
      reseedRetryS: database.reseedRetryS,
    },
    ...(etcd ? { etcd } : {}),
    ...(monitorHost ? { monitor: resolveMonitor(monitorHost) } : {}),
    ...(backupHost ? { backup: resolveBackup(config, backupHost) } : {}),
  };
  return deepFreeze(plan);
}

/** The monitor host's engines, ports and alert bounds (defaults.ts). */
function resolveMonitor(host: PlanHost): PlanMonitor {
  const m = DEFAULTS.monitor;
  return {
    host: host.name,
    address: host.address,
    dir: path.join(host.dir, 'prometheus'),
    prometheusPort: m.prometheusPort,
    alertmanagerPort: m.alertmanagerPort,
    blackboxPort: m.blackboxPort,
    webhookPort: m.webhookPort,
    exporterPorts: { ...m.exporterPorts },
    stubStatusPort: m.stubStatusPort,
    scrapeIntervalS: m.scrapeIntervalS,
    bounds: { ...m.bounds },
  };
}

/** The backup host, its folders, schedule and ports (defaults.ts). */
function resolveBackup(config: StackConfig, host: PlanHost): PlanBackup {
  const b = { ...DEFAULTS.backup, ...config.backup };
  return {
    host: host.name,
    address: host.address,
    dir: path.join(host.dir, 'backups'),
    archiveDir: path.join(host.dir, 'binlogs'),
    fullEveryS: b.fullEveryHours * 3600,
    incrementalEveryS: b.incrementalEveryMinutes * 60,
    keepFull: b.keepFull,
    agentPort: b.agentPort,
    sourcePort: b.sourcePort,
  };
}

/** etcd's members (explicit, or placed by `defaultEtcdHosts`), ports, key prefix and client TLS. */
function resolveEtcd(
  config: StackConfig,
  hostsConfig: readonly HostConfig[],
  hosts: readonly PlanHost[],
  name: string,
  tlsDir: string,
  caCert: string,
): PlanEtcd {
  const names = config.etcd?.hosts ?? defaultEtcdHosts(hostsConfig);
  return {
    members: names.map((n) => {
      const host = hosts.find((h) => h.name === n)!;
      return { name: host.name, host: host.name, address: host.address };
    }),
    clientPort: config.etcd?.clientPort ?? DEFAULTS.etcd.clientPort,
    peerPort: config.etcd?.peerPort ?? DEFAULTS.etcd.peerPort,
    prefix: `/tandem/${name}/`,
    tls: {
      ca: caCert,
      clientCert: path.join(tlsDir, 'etcd-client.crt'),
      clientKey: path.join(tlsDir, 'etcd-client.key'),
    },
  };
}

/** Convenience lookups over a Plan. */
export function hostOf(plan: Plan, name: string): PlanHost {
  const host = plan.hosts.find((h) => h.name === name) ?? (plan.client?.name === name ? plan.client : undefined);
  if (!host) throw new Error(`no host named ${name} in the plan`);
  return host;
}

export function serviceOf(plan: Plan, id: string): PlanService | undefined {
  return plan.services.find((s) => s.id === id);
}
