/**
 * The user's words (`StackConfig`, every field optional and documented) and the
 * resolved, complete, frozen `Plan` that every later layer reads.
 */

/** `monitor`: Prometheus, Alertmanager and the blackbox probe (issue 9); at most one host. */
export type Role = 'lb' | 'web' | 'app' | 'db' | 'monitor';
export type Balance = 'roundrobin' | 'leastconn' | 'source';
export type LbMode = 'active-active' | 'active-passive';

/** A request-rate limit per client address: `requests` over a sliding `perSeconds` window. */
export interface RateLimitConfig {
  /** Requests allowed per client address in the window (1 to 1000000). */
  requests: number;
  /** The window in seconds (1 to 3600). @default 10 */
  perSeconds?: number;
}
export type Hosting = 'loopback' | 'netns' | 'ssh';

/**
 * How to reach a host over SSH (`hosting: 'ssh'`). What is not set here is left to the
 * OpenSSH client, so `~/.ssh/config` (and its Host blocks) still applies.
 */
export interface SshConfig {
  /** The address (or DNS name) ssh connects to. Required. */
  address: string;
  /** The login name; tandem needs root on the host. @default ssh's own choice (`~/.ssh/config`, else your login name); in a lab, root */
  user?: string;
  /** @default ssh's own choice (`~/.ssh/config`, else 22) */
  port?: number;
  /** The private key, relative to the config file. @default ssh's own choice (the agent, `~/.ssh/config`); in a lab, the lab's key */
  identityFile?: string;
  /** The known_hosts file, relative to the config file. @default ssh's own (`~/.ssh/known_hosts`); in a lab, the lab's */
  knownHostsFile?: string;
}

export interface HostConfig {
  /** Host name, e.g. `server-1`. Letters, digits and dashes. */
  name: string;
  /** What runs on the host. */
  roles: Role[];
  /**
   * The host's own address. On `loopback` hosting it must be in 127.0.0.0/8.
   * @default the next free address of `network.subnet`
   */
  address?: string;
  /** `hosting: 'ssh'`: how tandem reaches the host. Required there, refused elsewhere. */
  ssh?: SshConfig;
}

/**
 * What `tandem.config.ts` may say. Each field's type, allowed values, default and meaning
 * for users is in the schema (schema.ts, rendered to docs/CONFIG.md); a unit test holds
 * this interface and the schema to the same fields.
 */
export interface StackConfig {
  /** Short stack name; used in process titles and the state folder. @default 'foobar' */
  name?: string;
  /** The site's domain. @default 'foobar.com' */
  domain?: string;
  /** Extra names in front of the domain that also serve the site. @default ['www'] */
  aliases?: string[];
  /**
   * Where hosts live. `netns`: every host a network namespace on a bridge, with its own
   * firewall, a floating IP for the LBs and a `client` namespace playing the internet
   * (needs root). `loopback`: every host a 127.x.y.z address; no isolation.
   * @default 'netns' when running as root, else 'loopback'
   */
  hosting?: Hosting;
  /** The stack's state folder, relative to the config file. @default '.tandem' */
  stateDir?: string;
  network?: {
    /**
     * Addresses are handed out from here, from .11 upwards. netns: a private subnet
     * (.1 is the bridge in the root namespace, .2 the client, .10 the VIP);
     * loopback: inside 127.0.0.0/8.
     * @default '10.77.0.0/24' (netns), '127.60.0.0/24' (loopback)
     */
    subnet?: string;
    /** The floating IP the domain points to (netns). @default .10 of the subnet */
    vip?: string;
  };
  /**
   * `hosting: 'ssh'` on this machine (`tandem lab up`): every host a network namespace on
   * a bridge in `subnet` (.1 is the bridge), running a real sshd on its `ssh.address`.
   */
  lab?: {
    /** A private subnet holding every host's `ssh.address`. Required. */
    subnet?: string;
  };
  /** The hosts and what runs on each. @default lb-1 (lb), server-1 and server-2 (web, app, db) */
  hosts?: HostConfig[];
  lb?: {
    /** @default 'roundrobin' */
    balance?: Balance;
    /** active-active: every server takes traffic; active-passive: all but the first are `backup`. @default 'active-active' */
    mode?: LbMode;
    /** Public HTTP port on the load balancer. @default 80 */
    port?: number;
    /** HAProxy `maxconn` (the hard open-files limit here is 20000). @default 4096 */
    maxconn?: number;
    /** Public HTTPS port (when TLS is on). @default 443 */
    httpsPort?: number;
    /**
     * Whether the first LB takes the VIP back when it returns after a failover. Off by
     * default: a VIP that moves back costs a second interruption. @default false
     */
    preempt?: boolean;
    /** VRRP advertisement interval in ms (VRRPv3 allows centiseconds). @default 100 */
    advertIntervalMs?: number;
    /** Also serve the site on each LB's own address, not only the VIP. @default false */
    exposeHostAddresses?: boolean;
    /**
     * Per-client request-rate limit at HAProxy: a client address that sent more than
     * `requests` requests over the last `perSeconds` seconds gets 429 (with `Retry-After`)
     * until its rate falls back under the limit. Counted per LB (an HAProxy stick table).
     * Off by default: a benchmark's single client would be throttled. @default undefined (off)
     */
    rateLimit?: RateLimitConfig;
  };
  tls?: {
    /** HTTPS at the load balancer (port 80 answers 308 to https). @default true on netns, false on loopback */
    enabled?: boolean;
    /** Your own certificate (PEM) instead of one from tandem's local CA. Needs `key`. */
    cert?: string;
    /** The key of `cert` (PEM). */
    key?: string;
  };
  firewall?: {
    /** Addresses or subnets allowed to reach SSH (22) on every host. @default [] (none) */
    sshFrom?: string[];
  };
  web?: {
    /** nginx listen port on each web host. @default 80 */
    port?: number;
    /** nginx worker processes. @default 1 */
    workers?: number;
  };
  app?: {
    /** The app's listen port on each app host. @default 3000 */
    port?: number;
    /**
     * The app's private listener on each app host's address: `/healthz`, `/readyz` and
     * `/metrics`, for the load balancers' checks (through nginx) and the monitor (the firewall admits no one else). The
     * public port serves none of them. @default 3001
     */
    adminPort?: number;
    /** The site's code base, relative to the config file. @default the bundled foobar.com app */
    codeDir?: string;
    /** argv that starts one app process, run in `codeDir`. @default node --import tsx server.ts */
    start?: string[];
    /** Largest request body the app accepts, in bytes. @default 65536 */
    bodyLimit?: number;
    /** argv run in each new release after its dependencies are installed (a build step). @default none */
    build?: string[];
    /** Releases each app host keeps; the running and the previous one always stay. @default 5 */
    keepReleases?: number;
    /** The other slot's ports: `port` and `adminPort` plus this (`tandem deploy`). @default 100 */
    slotOffset?: number;
    /**
     * Request collapsing in the bundled app's database client: identical reads in
     * flight together share one query (see src/db). @default true
     */
    coalesceReads?: boolean;
  };
  database?: {
    /** Host whose MariaDB is the primary. Required when any host has the `db` role. */
    primary?: string;
    /** @default 3306 */
    port?: number;
    /** Schema name the app uses. @default 'foobar' */
    name?: string;
    /** Semi-synchronous replication (lossless wait point). @default true */
    semiSync?: boolean;
    /**
     * How long the primary waits for a replica's acknowledgement before it goes on alone
     * (async) until a replica catches up. A replica host that vanishes without a reset
     * (link cut) stalls every write for this long, so it bounds the write stall a dead
     * replica causes; MariaDB's own default is 10 s. @default 1000
     */
    semiSyncTimeoutMs?: number;
    /** InnoDB buffer pool per instance, in MiB. @default 128 */
    bufferPoolMb?: number;
    /**
     * Automatic failover of the primary (a sentinel beside each database, a leader key in
     * etcd). Needs at least two db hosts. @default true with two or more db hosts, else false
     */
    failover?: boolean;
    /** The primary's leader lease in etcd, in whole seconds (1 to 10). @default 1 */
    leaseTtlS?: number;
    /** Seconds before a failed reseed of a diverged database is tried again. @default 60 */
    reseedRetryS?: number;
  };
  /**
   * Backups with mariadb-backup and binlog archiving, kept on the backup host: the
   * monitor host, or the host named here. Without either, nothing backs the stack up.
   */
  backup?: {
    /** The host that keeps backups and the binlog archive; never a db host. @default the monitor host */
    host?: string;
    /** A full backup every this many hours. @default 24 */
    fullEveryHours?: number;
    /** An incremental backup every this many minutes, on the last full one. @default 60 */
    incrementalEveryMinutes?: number;
    /** Full backups kept, each with its incrementals. @default 7 */
    keepFull?: number;
  };
  /** etcd, the consensus store of database failover: present only when failover is on. */
  etcd?: {
    /**
     * The hosts that run an etcd member: an odd number of distinct hosts.
     * @default three hosts: the db hosts first, then app/web hosts, then LB hosts
     */
    hosts?: string[];
    /** Client port of each member. @default 2379 */
    clientPort?: number;
    /** Peer (raft) port of each member. @default 2380 */
    peerPort?: number;
  };
}

/** Identity function that exists for typing `tandem.config.ts`. */
export function defineStack(config: StackConfig): StackConfig {
  return config;
}

// ---------------------------------------------------------------- Plan

/** The monitor host's engines, and the exporters Prometheus scrapes on every host (issue 9). */
export type MonitorKind =
  'prometheus' | 'alertmanager' | 'blackbox-exporter' | 'node-exporter' | 'mysqld-exporter' | 'nginx-exporter';

/** `alert-receiver`: tandem's own receiver of Alertmanager's webhook, on the monitor host. */
export type ServiceKind =
  | 'haproxy'
  | 'nginx'
  | 'app'
  | 'mariadb'
  | 'keepalived'
  | 'dnsmasq'
  | 'etcd'
  | 'sentinel'
  | 'alert-receiver'
  // Backups (issue 10): a source beside each database, the agent on the backup host.
  | 'backup-source'
  | 'backup-agent'
  // Streams the primary's binlog to the backup host (issue 10).
  | 'binlog-archiver'
  | MonitorKind;

export interface PlanHost {
  readonly name: string;
  readonly address: string;
  readonly roles: readonly Role[];
  /** Absolute: `<stateDir>/hosts/<name>` */
  readonly dir: string;
  /** netns: the host's network namespace, e.g. `tandem-foobar-lb-1`. */
  readonly namespace?: string;
  /** netns: the root-namespace end of the host's veth pair (≤ 15 characters). */
  readonly link?: string;
  /** ssh: how to reach the host (files absolute). */
  readonly ssh?: PlanSsh;
}

/** A host's SSH target as the transport uses it; absent fields are left to ssh. */
export interface PlanSsh {
  readonly address: string;
  /** Absent: ssh's own choice (`~/.ssh/config`). */
  readonly user?: string;
  readonly port?: number;
  readonly identityFile?: string;
  readonly knownHostsFile?: string;
}

/** `lab`: the SSH hosts `tandem lab up` makes on this machine. */
export interface PlanLab {
  readonly subnet: string;
  readonly prefixLength: number;
  /** The bridge in the root namespace (≤ 15 characters) and its address, .1 of the subnet. */
  readonly bridge: string;
  readonly bridgeAddress: string;
  /** Absolute: `<stateDir>/lab`: keys, known_hosts, each host's sshd and its /etc/tandem. */
  readonly dir: string;
  readonly hosts: readonly {
    readonly name: string;
    readonly address: string;
    readonly port: number;
    readonly namespace: string;
    readonly link: string;
  }[];
}

export interface PlanService {
  /** `<host>/<kind>`, e.g. `server-1/nginx`: the name users and the supervisor use. */
  readonly id: string;
  readonly host: string;
  readonly kind: ServiceKind;
  readonly address: string;
  readonly port: number;
  /** Absolute: `<host dir>/<kind>` — config, logs, pid and data of this service. */
  readonly dir: string;
  /** Ids of services that must be ready before this one starts. */
  readonly after: readonly string[];
}

export interface PlanBackend {
  /** Server name in HAProxy: the host name. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly backup: boolean;
}

export interface PlanDbUsers {
  readonly app: string;
  readonly replication: string;
  readonly monitor: string;
  /** mariadb-backup's user (over the socket): the sentinels reseed a diverged database with it. */
  readonly backup: string;
  /** The binlog archiver's (REPLICATION SLAVE, BINLOG MONITOR), from the backup host. */
  readonly archive: string;
}

export interface Plan {
  readonly name: string;
  readonly domain: string;
  /** domain first, then alias.domain for each alias */
  readonly hostnames: readonly string[];
  readonly hosting: Hosting;
  /** Directory of the config file; relative paths resolve from here. */
  readonly projectDir: string;
  /** Absolute state folder. */
  readonly stateDir: string;
  /** Absolute path of the secrets file (mode 0600). The Plan never holds the secrets themselves. */
  readonly secretsFile: string;
  /** The public URL of the site. */
  readonly url: string;
  readonly hosts: readonly PlanHost[];
  /** ssh with `lab`: the lab on this machine. */
  readonly lab?: PlanLab;
  /** netns: the namespace that plays the internet (curl, nmap, load run here). */
  readonly client?: PlanHost;
  readonly services: readonly PlanService[];
  readonly network: {
    readonly subnet: string;
    readonly prefixLength: number;
    /** netns: the bridge in the root namespace and its address (the hosts' gateway). */
    readonly bridge?: string;
    readonly bridgeAddress?: string;
    /** Interface name of every host inside its namespace. */
    readonly hostInterface: string;
  };
  readonly lb: {
    readonly balance: Balance;
    readonly mode: LbMode;
    readonly port: number;
    readonly maxconn: number;
    readonly httpsPort: number;
    /** The web servers HAProxy balances over. */
    readonly backends: readonly PlanBackend[];
    /** netns: the floating IP the domain points to, held by one LB at a time. */
    readonly vip?: string;
    /** Addresses HAProxy binds the public ports on: the VIP, and/or the LBs' own. */
    readonly bindHostAddresses: boolean;
    /** Per-client request-rate limit (429 past it); absent when off. */
    readonly rateLimit?: { readonly requests: number; readonly perSeconds: number };
    /** netns: keepalived settings (VRRPv3, unicast between the LBs). */
    readonly vrrp?: {
      readonly routerId: number;
      readonly advertIntervalMs: number;
      readonly preempt: boolean;
      /** Per LB host: the first LB is preferred. */
      readonly priorities: Readonly<Record<string, number>>;
    };
  };
  readonly tls: {
    readonly enabled: boolean;
    /** Absolute folder of the CA and site material: `<stateDir>/tls`. */
    readonly dir: string;
    readonly caCert: string;
    /** The CA's private key (mode 0600); absent when the user supplies the certificate. */
    readonly caKey: string;
    readonly cert: string;
    readonly key: string;
    /** cert + key concatenated, as HAProxy's `crt` wants it (mode 0600). */
    readonly pem: string;
    /** The user supplied cert and key: tandem makes no CA. */
    readonly userSupplied: boolean;
  };
  readonly dns: {
    /** netns: dnsmasq in the client namespace answers the zone. */
    readonly enabled: boolean;
    /** name → address records: the domain names → VIP, host names → host addresses. */
    readonly records: readonly { readonly name: string; readonly address: string }[];
  };
  readonly firewall: {
    /** netns only: each host gets a default-drop nftables ruleset. */
    readonly enabled: boolean;
    readonly sshFrom: readonly string[];
  };
  readonly web: {
    readonly port: number;
    readonly workers: number;
    /**
     * Per web host: the app servers its nginx proxies to. With a local app, that one,
     * and the others as `backup` (taken only while the local one refuses connections).
     */
    readonly upstreams: Readonly<Record<string, readonly { address: string; port: number; backup: boolean }[]>>;
  };
  readonly app: {
    readonly port: number;
    /** The private listener: health, readiness, metrics. */
    readonly adminPort: number;
    /** The code base as configured: what `tandem deploy` releases by default. */
    readonly codeDir: string;
    readonly start: readonly string[];
    readonly bodyLimit: number;
    readonly coalesceReads: boolean;
    readonly build?: readonly string[];
    readonly keepReleases: number;
    readonly slotOffset: number;
    /**
     * Per app host, the release it runs (`tandem deploy`), read from the host's
     * release.json by the config loader; a host without one runs `codeDir` in slot a.
     */
    readonly releases?: Readonly<Record<string, PlanRelease>>;
  };
  readonly db: {
    readonly port: number;
    readonly name: string;
    /** Host name of the primary. */
    readonly primary: string;
    /** Host names of the replicas. */
    readonly replicas: readonly string[];
    readonly semiSync: boolean;
    readonly semiSyncTimeoutMs: number;
    readonly bufferPoolMb: number;
    readonly users: PlanDbUsers;
    /** server_id per db host (stable: order of hosts). */
    readonly serverIds: Readonly<Record<string, number>>;
    /** Automatic failover (sentinels and a leader key in etcd); `etcd` is in the Plan exactly when it is on. */
    readonly failover: boolean;
    /** The leader lease in etcd, in seconds. */
    readonly leaseTtlS: number;
    /** Seconds before a failed reseed is tried again. */
    readonly reseedRetryS: number;
  };
  /** etcd, the consensus store of database failover; present only when failover is on. */
  readonly etcd?: PlanEtcd;
  /** Prometheus and Alertmanager on the `monitor` host; present only when a host has that role. */
  readonly monitor?: PlanMonitor;
  /** Backups and the binlog archive; present when the stack has a monitor host or names `backup.host`. */
  readonly backup?: PlanBackup;
}

/**
 * Where backups and the binlog archive are kept, and when they are taken. The backup
 * host is never a db host, so losing a server does not lose its backups.
 */
/** The release an app host runs, and in which slot (`tandem deploy`). */
export interface PlanRelease {
  readonly id: string;
  /** a: `app.port`/`app.adminPort`; b: both plus `app.slotOffset`. */
  readonly slot: 'a' | 'b';
  /** The release's folder on that host. */
  readonly dir: string;
  /** The release it ran before, which `tandem rollback` goes back to. */
  readonly previous?: string;
}

export interface PlanBackup {
  /** The backup host's name and address. */
  readonly host: string;
  readonly address: string;
  /** Absolute: `<backup host dir>/backups` — one folder per backup, encrypted and checksummed. */
  readonly dir: string;
  /** Absolute: `<backup host dir>/binlogs` — the primary's binlogs, streamed continuously. */
  readonly archiveDir: string;
  readonly fullEveryS: number;
  readonly incrementalEveryS: number;
  /** Full backups kept, each with its incrementals. */
  readonly keepFull: number;
  /** The backup agent on the backup host (schedule, store, restore drill, `tandem backup`). */
  readonly agentPort: number;
  /** The backup source beside each database, on its host's address: open to the backup host only. */
  readonly sourcePort: number;
}

/**
 * The monitor host's engines and what they watch. Every exporter listens on its host's
 * own address; Prometheus scrapes them all from the monitor host.
 */
export interface PlanMonitor {
  /** The monitor host's name and address. */
  readonly host: string;
  readonly address: string;
  /** Absolute: `<monitor host dir>/prometheus`; the rules file sits beside prometheus.yml. */
  readonly dir: string;
  /** Prometheus' UI and HTTP API. */
  readonly prometheusPort: number;
  /** Alertmanager's UI and API (its cluster port is off: one Alertmanager). */
  readonly alertmanagerPort: number;
  /** The blackbox exporter, which probes the site over HTTPS. */
  readonly blackboxPort: number;
  /** tandem's receiver of Alertmanager's webhook notifications, on the monitor host. */
  readonly webhookPort: number;
  /** Exporter ports: node on every host, mysqld on db hosts, nginx on web hosts, each sentinel's /metrics (with failover). */
  readonly exporterPorts: {
    readonly node: number;
    readonly mysqld: number;
    readonly nginx: number;
    readonly sentinel: number;
  };
  /**
   * nginx's `stub_status` listener on each web host's own address, for the nginx exporter
   * beside it: the firewall opens it to nobody, and nginx answers only the host itself.
   */
  readonly stubStatusPort: number;
  /** How often Prometheus scrapes every target and evaluates the rules. */
  readonly scrapeIntervalS: number;
  /** Alert bounds: replica lag, the app's p99 latency, the LB's 5xx ratio. */
  readonly bounds: {
    readonly replicaLagS: number;
    readonly p99LatencyS: number;
    readonly errorRatio: number;
  };
}

export interface PlanEtcdMember {
  /** The member's name in the cluster: its host's name. */
  readonly name: string;
  readonly host: string;
  readonly address: string;
}

export interface PlanEtcd {
  readonly members: readonly PlanEtcdMember[];
  readonly clientPort: number;
  readonly peerPort: number;
  /** Every key tandem writes is under this prefix: `/tandem/<stack name>/`. */
  readonly prefix: string;
  /** What a client (tandem, the sentinels) presents: the CA and the client certificate (key 0600). */
  readonly tls: { readonly ca: string; readonly clientCert: string; readonly clientKey: string };
}
