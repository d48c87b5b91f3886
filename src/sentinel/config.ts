/**
 * The sentinel's configuration: one JSON file per database host, written by `tandem up`
 * (or a test). Secrets stay out of it: the replication password is read from its own file.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';

export interface SentinelPeer {
  /** Host name, as the Plan names it (e.g. `db1`). */
  readonly host: string;
  /** Address MariaDB listens on, for replication and for the apps. */
  readonly address: string;
  readonly port: number;
}

export interface SentinelConfig {
  readonly stack: string;
  /** This sentinel's database host (one of `peers`). */
  readonly host: string;
  /** Key prefix in etcd, ending in `/`, e.g. `/tandem/foobar/`. */
  readonly prefix: string;
  readonly etcd: {
    readonly endpoints: readonly string[];
    /** PEM files: the CA, and this client's certificate and key. */
    readonly ca?: string;
    readonly cert?: string;
    readonly key?: string;
    /** Deadline of one request to one member. @default 250 */
    readonly timeoutMs?: number;
  };
  /** The local MariaDB: root over `socket`; `address`/`port` as the others reach it. */
  readonly db: { readonly socket: string; readonly address: string; readonly port: number; readonly pidFile?: string };
  /** Every database host, this one included. */
  readonly peers: readonly SentinelPeer[];
  readonly replication: { readonly user: string; readonly passwordFile: string };
  /** The host that takes the leader key when no leader was ever recorded. */
  readonly bootstrapPrimary: string;
  /** TTL of the sentinel's etcd lease. @default 1 */
  readonly leaseTtlS: number;
  /** @default 100 */
  readonly tickMs: number;
  /** JSON file the sentinel rewrites each tick, for `tandem status`. */
  readonly stateFile: string;
  /** How long commits may wait for the sync replica before it is dropped. @default 300 */
  readonly syncWaitMs: number;
  /** The longest a fence may take before the instance is killed. @default 200 */
  readonly fenceTimeoutMs: number;
  /** Where it serves /metrics for Prometheus; absent: no listener (no monitor watches the stack). */
  readonly metrics?: { readonly address: string; readonly port: number };
  /** Absent: a diverged database waits, read-only, for a person. */
  readonly reseed?: SentinelReseedConfig;
  /**
   * The file the backup source beside this database keeps while it holds the SQL thread
   * stopped for a backup (src/backup/source.ts). Absent: no backups are taken here, and a
   * stopped SQL thread always makes the replica ineligible.
   */
  readonly backupPauseMarker?: string;
}

/** Reseeding this database from the primary when its history diverged (reseed.ts). */
export interface SentinelReseedConfig {
  /** TCP port the diverged host listens on for the backup stream (its firewall opens it to the other db hosts). */
  readonly port: number;
  /** The datadir that is replaced (the server's `datadir`). */
  readonly dataDir: string;
  /** Scratch folder on the datadir's filesystem: the prepared backup is renamed into place. */
  readonly workDir: string;
  /** Where the diverged binlogs are kept for a person, one dated folder per reseed. */
  readonly keepDir: string;
  /** The server's option file: the donor's backup reads it. */
  readonly defaultsFile: string;
  /** The backup user (`RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR`, over the socket). */
  readonly user: string;
  readonly passwordFile: string;
  /** The whole reseed's bound. @default 300 */
  readonly timeoutS: number;
  /** How long a divergence must last before the local data is thrown away. @default 2000 */
  readonly settleMs: number;
  /** The wait after a failed reseed before the next. @default 60000 */
  readonly retryMs: number;
}

type Issues = { path: string; message: string }[];

function str(issues: Issues, path: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') issues.push({ path, message: 'should be a non-empty string' });
  return value as string;
}

function optStr(issues: Issues, path: string, value: unknown): string | undefined {
  return value === undefined ? undefined : str(issues, path, value);
}

function num(issues: Issues, path: string, value: unknown, fallback: number | undefined, min: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    issues.push({ path, message: `should be a number ≥ ${min}` });
  }
  return value as number;
}

function obj(issues: Issues, path: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.push({ path, message: 'should be an object' });
    return {};
  }
  return value as Record<string, unknown>;
}

function list(issues: Issues, path: string, value: unknown): unknown[] {
  if (!Array.isArray(value) || value.length === 0) {
    issues.push({ path, message: 'should be a non-empty array' });
    return [];
  }
  return value;
}

/** Checks a parsed config, collecting every issue with its path; returns the resolved config. */
export function resolveSentinelConfig(raw: unknown, source = 'sentinel config'): SentinelConfig {
  const issues: Issues = [];
  const r = obj(issues, '', raw);
  const etcd = obj(issues, 'etcd', r.etcd);
  const db = obj(issues, 'db', r.db);
  const replication = obj(issues, 'replication', r.replication);
  const peers = list(issues, 'peers', r.peers).map((p, i) => {
    const o = obj(issues, `peers/${i}`, p);
    return {
      host: str(issues, `peers/${i}/host`, o.host),
      address: str(issues, `peers/${i}/address`, o.address),
      port: num(issues, `peers/${i}/port`, o.port, undefined, 1),
    };
  });
  const metrics = r.metrics === undefined ? undefined : obj(issues, 'metrics', r.metrics);
  const config: SentinelConfig = {
    stack: str(issues, 'stack', r.stack),
    host: str(issues, 'host', r.host),
    prefix: str(issues, 'prefix', r.prefix),
    etcd: {
      endpoints: list(issues, 'etcd/endpoints', etcd.endpoints).map((e, i) => str(issues, `etcd/endpoints/${i}`, e)),
      ca: optStr(issues, 'etcd/ca', etcd.ca),
      cert: optStr(issues, 'etcd/cert', etcd.cert),
      key: optStr(issues, 'etcd/key', etcd.key),
      timeoutMs: num(issues, 'etcd/timeoutMs', etcd.timeoutMs, 250, 10),
    },
    db: {
      socket: str(issues, 'db/socket', db.socket),
      address: str(issues, 'db/address', db.address),
      port: num(issues, 'db/port', db.port, undefined, 1),
      pidFile: optStr(issues, 'db/pidFile', db.pidFile),
    },
    peers,
    replication: {
      user: str(issues, 'replication/user', replication.user),
      passwordFile: str(issues, 'replication/passwordFile', replication.passwordFile),
    },
    bootstrapPrimary: str(issues, 'bootstrapPrimary', r.bootstrapPrimary),
    leaseTtlS: num(issues, 'leaseTtlS', r.leaseTtlS, 1, 1),
    tickMs: num(issues, 'tickMs', r.tickMs, 100, 10),
    stateFile: str(issues, 'stateFile', r.stateFile),
    syncWaitMs: num(issues, 'syncWaitMs', r.syncWaitMs, 300, 0),
    fenceTimeoutMs: num(issues, 'fenceTimeoutMs', r.fenceTimeoutMs, 200, 10),
    ...(r.reseed === undefined ? {} : { reseed: resolveReseed(issues, obj(issues, 'reseed', r.reseed)) }),
    ...(r.backupPauseMarker === undefined
      ? {}
      : { backupPauseMarker: str(issues, 'backupPauseMarker', r.backupPauseMarker) }),
    ...(metrics && {
      metrics: {
        address: str(issues, 'metrics/address', metrics.address),
        port: num(issues, 'metrics/port', metrics.port, undefined, 1),
      },
    }),
  };
  const hosts = peers.map((p) => p.host);
  if (typeof config.prefix === 'string' && !config.prefix.endsWith('/')) {
    issues.push({ path: 'prefix', message: 'should end with "/"' });
  }
  if (typeof config.host === 'string' && !hosts.includes(config.host)) {
    issues.push({ path: 'host', message: `should be one of peers (${hosts.join(', ')})` });
  }
  if (typeof config.bootstrapPrimary === 'string' && !hosts.includes(config.bootstrapPrimary)) {
    issues.push({ path: 'bootstrapPrimary', message: `should be one of peers (${hosts.join(', ')})` });
  }
  if (issues.length > 0) {
    const lines = issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n');
    throw new ConfigError(`${source}: ${issues.length} problem(s):\n${lines}`, issues);
  }
  return config;
}

function resolveReseed(issues: Issues, r: Record<string, unknown>): SentinelReseedConfig {
  return {
    port: num(issues, 'reseed/port', r.port, undefined, 1),
    dataDir: str(issues, 'reseed/dataDir', r.dataDir),
    workDir: str(issues, 'reseed/workDir', r.workDir),
    keepDir: str(issues, 'reseed/keepDir', r.keepDir),
    defaultsFile: str(issues, 'reseed/defaultsFile', r.defaultsFile),
    user: str(issues, 'reseed/user', r.user),
    passwordFile: str(issues, 'reseed/passwordFile', r.passwordFile),
    timeoutS: num(issues, 'reseed/timeoutS', r.timeoutS, 300, 1),
    settleMs: num(issues, 'reseed/settleMs', r.settleMs, 2000, 0),
    retryMs: num(issues, 'reseed/retryMs', r.retryMs, 60_000, 0),
  };
}

export function loadSentinelConfig(file: string): SentinelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${file}: cannot read the sentinel config: ${(err as Error).message}`);
  }
  return resolveSentinelConfig(raw, file);
}
