/**
 * The user's words (`StackConfig`, every field optional and documented) and the
 * resolved, complete, frozen `Plan` that every later layer reads.
 */

export type Role = 'lb' | 'web' | 'app' | 'db';
export type Balance = 'roundrobin' | 'leastconn' | 'source';
export type LbMode = 'active-active' | 'active-passive';
export type Hosting = 'loopback';

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
}

export interface StackConfig {
  /** Short stack name; used in process titles and the state folder. @default 'foobar' */
  name?: string;
  /** The site's domain. @default 'foobar.com' */
  domain?: string;
  /** Extra names in front of the domain that also serve the site. @default ['www'] */
  aliases?: string[];
  /** Where hosts live. Only `loopback` exists so far. @default 'loopback' */
  hosting?: Hosting;
  /** The stack's state folder, relative to the config file. @default '.tandem' */
  stateDir?: string;
  network?: {
    /** Addresses are handed out from here, from .11 upwards. @default '127.60.0.0/24' */
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
    /** The site's code base, relative to the config file. @default the bundled foobar.com app */
    codeDir?: string;
    /** argv that starts one app process, run in `codeDir`. @default node --import tsx server.ts */
    start?: string[];
    /** Largest request body the app accepts, in bytes. @default 65536 */
    bodyLimit?: number;
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
    /** How long the primary waits for a replica's ack before falling back to async. @default 10000 */
    semiSyncTimeoutMs?: number;
    /** InnoDB buffer pool per instance, in MiB. @default 128 */
    bufferPoolMb?: number;
  };
}

/** Identity function that exists for typing `tandem.config.ts`. */
export function defineStack(config: StackConfig): StackConfig {
  return config;
}

// ---------------------------------------------------------------- Plan

export type ServiceKind = 'haproxy' | 'nginx' | 'app' | 'mariadb';

export interface PlanHost {
  readonly name: string;
  readonly address: string;
  readonly roles: readonly Role[];
  /** Absolute: `<stateDir>/hosts/<name>` */
  readonly dir: string;
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
}

export interface Secrets {
  readonly dbRootPassword: string;
  readonly dbAppPassword: string;
  readonly dbReplicationPassword: string;
  readonly dbMonitorPassword: string;
  readonly sessionSecret: string;
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
  /** Absolute path of the secrets file (mode 0600). */
  readonly secretsFile: string;
  /** The public URL of the site. */
  readonly url: string;
  readonly hosts: readonly PlanHost[];
  readonly services: readonly PlanService[];
  readonly lb: {
    readonly balance: Balance;
    readonly mode: LbMode;
    readonly port: number;
    readonly maxconn: number;
    /** The web servers HAProxy balances over. */
    readonly backends: readonly PlanBackend[];
  };
  readonly web: {
    readonly port: number;
    readonly workers: number;
    /** Per web host: the app servers its nginx proxies to (local app when there is one). */
    readonly upstreams: Readonly<Record<string, readonly { address: string; port: number }[]>>;
  };
  readonly app: {
    readonly port: number;
    readonly codeDir: string;
    readonly start: readonly string[];
    readonly bodyLimit: number;
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
  };
  readonly secrets: Secrets;
}
