/**
 * The app's configuration, from environment variables only (the orchestrator sets them).
 * Secrets come from files named by `*_FILE` variables and are never logged.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { DbEndpoint, DbOptions } from '../db/index.ts';
import { type AssetManifest, parseManifest } from './assets.ts';

export interface AppConfig {
  /** TANDEM_HOST: this server's name, reported by /whoami and stored with posts. */
  host: string;
  /** TANDEM_RELEASE: the release this process runs (`tandem deploy`); absent outside a release. */
  release?: string;
  /** TANDEM_APP_ADDRESS @default '127.0.0.1' */
  address: string;
  /** TANDEM_APP_PORT @default 3000 */
  port: number;
  /** TANDEM_ADMIN_PORT: the private listener (health, readiness, metrics) on `address`. @default 3001 */
  adminPort: number;
  /** TANDEM_BODY_LIMIT, bytes. @default 65536 */
  bodyLimit: number;
  /** TANDEM_TRUSTED_PROXIES, comma separated: nginx and LB addresses whose X-Forwarded-For is believed. @default [] */
  trustedProxies: string[];
  /** Contents of TANDEM_SESSION_SECRET_FILE. */
  sessionSecret: string;
  /** TANDEM_ASSETS_MANIFEST: the static assets' manifest file, read at start. @default {} (the pages link no assets) */
  assets: AssetManifest;
  db: DbOptions;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid app environment:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;
type ReadFile = (path: string) => string;

/** Parses `addr:port` (port 3306 when left out). */
export function parseEndpoint(value: string): DbEndpoint | undefined {
  const match = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value.trim());
  if (!match) return undefined;
  const port = match[2] === undefined ? 3306 : Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1]!, port };
}

/** Reads the environment; collects every problem before throwing (names the variable). */
export function loadAppConfig(env: Env = process.env, readFile: ReadFile = (p) => readFileSync(p, 'utf8')): AppConfig {
  const problems: string[] = [];
  const required = (name: string): string => {
    const value = env[name];
    if (value === undefined || value.trim() === '') {
      problems.push(`${name}: required`);
      return '';
    }
    return value.trim();
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}: should be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return value;
  };
  const secretFile = (name: string): string => {
    const path = required(name);
    if (path === '') return '';
    try {
      const value = readFile(path).trim();
      if (value === '') problems.push(`${name}: file ${path} is empty`);
      return value;
    } catch (err) {
      problems.push(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      return '';
    }
  };
  const endpoint = (name: string, raw: string): DbEndpoint => {
    const parsed = parseEndpoint(raw);
    if (!parsed) problems.push(`${name}: should be addr:port, got ${JSON.stringify(raw)}`);
    return parsed ?? { host: '', port: 3306 };
  };

  const host = required('TANDEM_HOST');
  const release = env.TANDEM_RELEASE?.trim() || undefined;
  const address = env.TANDEM_APP_ADDRESS?.trim() || '127.0.0.1';
  const port = integer('TANDEM_APP_PORT', 3000, 1, 65535);
  const adminPort = integer('TANDEM_ADMIN_PORT', 3001, 1, 65535);
  if (adminPort === port) problems.push(`TANDEM_ADMIN_PORT: should differ from TANDEM_APP_PORT (${port})`);
  const bodyLimit = integer('TANDEM_BODY_LIMIT', 65536, 1024, 64 * 1024 * 1024);
  const list = (name: string): string[] =>
    (env[name] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  // TANDEM_DB_NODES: every database node; the client finds the primary among them. The
  // primary and replicas variables are then only the initial guess (and may be left out).
  const nodes = list('TANDEM_DB_NODES').map((s) => endpoint('TANDEM_DB_NODES', s));
  const primaryRaw = nodes.length > 0 ? (env.TANDEM_DB_PRIMARY?.trim() ?? '') : required('TANDEM_DB_PRIMARY');
  const primary = primaryRaw === '' ? undefined : endpoint('TANDEM_DB_PRIMARY', primaryRaw);
  const replicas = list('TANDEM_DB_REPLICAS').map((s) => endpoint('TANDEM_DB_REPLICAS', s));
  const database = required('TANDEM_DB_NAME');
  const user = required('TANDEM_DB_USER');
  const password = secretFile('TANDEM_DB_PASSWORD_FILE');
  const sessionSecret = secretFile('TANDEM_SESSION_SECRET_FILE');
  if (sessionSecret !== '' && sessionSecret.length < 16)
    problems.push('TANDEM_SESSION_SECRET_FILE: the secret should be at least 16 characters');
  const localAddress = env.TANDEM_DB_SOURCE_ADDRESS?.trim() || undefined;
  // TANDEM_DB_COALESCE_READS=0 turns request collapsing off (see DbOptions.coalesceReads).
  const coalesceReads = env.TANDEM_DB_COALESCE_READS?.trim() !== '0';
  // TANDEM_DB_MAX_REPLICA_LAG_MS: see DbOptions.maxReplicaLagMs (the client's default when unset).
  const maxReplicaLagMs = env.TANDEM_DB_MAX_REPLICA_LAG_MS?.trim()
    ? integer('TANDEM_DB_MAX_REPLICA_LAG_MS', 0, 100, 3_600_000)
    : undefined;

  const manifestFile = env.TANDEM_ASSETS_MANIFEST?.trim() ?? '';
  let assets: AssetManifest = {};
  if (manifestFile !== '') {
    try {
      assets = parseManifest(readFile(manifestFile), manifestFile);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(
        `TANDEM_ASSETS_MANIFEST: ${code ? `cannot read ${manifestFile} (${code})` : (err as Error).message}`,
      );
    }
  }

  const trustedProxies = list('TANDEM_TRUSTED_PROXIES');
  for (const a of trustedProxies)
    if (!isIP(a)) problems.push(`TANDEM_TRUSTED_PROXIES: ${JSON.stringify(a)} is not an IP address`);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    host,
    ...(release !== undefined ? { release } : {}),
    address,
    port,
    adminPort,
    bodyLimit,
    trustedProxies,
    sessionSecret,
    assets,
    db: {
      ...(nodes.length > 0 ? { nodes } : {}),
      ...(primary !== undefined ? { primary } : {}),
      replicas,
      database,
      user,
      password,
      coalesceReads,
      ...(localAddress !== undefined ? { localAddress } : {}),
      ...(maxReplicaLagMs !== undefined ? { maxReplicaLagMs } : {}),
    },
  };
}
