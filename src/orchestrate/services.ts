/**
 * What running one service of the Plan means: the files it needs, the supervised
 * command, its readiness check. Builds on render/ and engines/ (pure) and asks
 * hosts/ to act.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type ServicePaths, servicePaths } from '../config/paths.ts';
import { hostOf } from '../config/resolve.ts';
import type { Plan, PlanService } from '../config/types.ts';
import { keepalivedEngine } from '../engines/keepalived.ts';
import { engines } from '../engines/index.ts';
import type { Engine } from '../engines/types.ts';
import { TandemError } from '../errors.ts';
import { httpGet, probeTcp, unixRequest } from '../hosts/net.ts';
import { httpStatusFrom, inNamespace } from '../hosts/netns.ts';
import { run } from '../hosts/process.ts';
import type { SupervisedSpec } from '../hosts/supervise.ts';
import { readSupervisor, sleep } from '../hosts/supervise.ts';
import { NGINX_STATUS_PATH, renderServiceConfig } from '../render/index.ts';
import { pingable } from './database.ts';

export interface ServiceFile {
  readonly path: string;
  readonly content: string;
  /** 0o600 for anything holding a secret. */
  readonly mode?: number;
}

export interface ServiceUnit {
  readonly service: PlanService;
  readonly paths: ServicePaths;
  /** The engine that runs it; undefined for the app (tandem's own code). */
  readonly engine?: Engine;
  readonly files: readonly ServiceFile[];
  readonly spec: SupervisedSpec;
  /** Identifies the engine process in /proc/<pid>/cmdline (orphan reaping). */
  readonly binaryHint: string;
  /** Files a previous run may have left that would stop the engine from starting (pid files). */
  readonly staleFiles: readonly string[];
  /** A config change is applied by a reload signal rather than a restart. */
  readonly reloadable: boolean;
  /** Hash over everything that, when changed, means the running service is stale. */
  readonly fingerprint: string;
}

/** Environment of one app process: addresses and paths, never secret values. */
export function appEnvironment(plan: Plan, service: PlanService, paths: ServicePaths): Record<string, string> {
  const addr = (name: string) => `${hostOf(plan, name).address}:${plan.db.port}`;
  return {
    NODE_ENV: 'production',
    TANDEM_HOST: service.host,
    TANDEM_APP_ADDRESS: service.address,
    TANDEM_APP_PORT: String(service.port),
    TANDEM_ADMIN_PORT: String(plan.app.adminPort),
    TANDEM_DB_PRIMARY: addr(plan.db.primary),
    TANDEM_DB_REPLICAS: plan.db.replicas.map(addr).join(','),
    TANDEM_DB_NAME: plan.db.name,
    TANDEM_DB_USER: plan.db.users.app,
    TANDEM_DB_PASSWORD_FILE: path.join(paths.dir, 'db-password'),
    TANDEM_DB_SOURCE_ADDRESS: service.address,
    TANDEM_SESSION_SECRET_FILE: path.join(paths.dir, 'session-secret'),
    TANDEM_BODY_LIMIT: String(plan.app.bodyLimit),
    TANDEM_DB_COALESCE_READS: plan.app.coalesceReads ? '1' : '0',
  };
}

function engineSpec(id: string, engine: Engine, paths: ServicePaths, namespace?: string): SupervisedSpec {
  // keepalived must start in the root namespace (its process tracking needs the
  // kernel's process events, which exist only there) and enters the host's itself.
  const own = engine.startsInRootNamespace === true;
  return {
    id,
    namespace: own ? undefined : namespace,
    argv: engine.runCommand(paths, own ? namespace : undefined),
    cwd: paths.dir,
    stopSignal: engine.stopSignal,
    reloadSignal: engine.reloadSignal ?? undefined,
    stopTimeoutMs: engine.stopGraceMs,
  };
}

export function unitOf(plan: Plan, service: PlanService): ServiceUnit {
  const paths = servicePaths(service);
  const ns = hostOf(plan, service.host).namespace;
  let files: ServiceFile[];
  let spec: SupervisedSpec;
  let binaryHint: string;
  const engine = service.kind === 'app' ? undefined : engines[service.kind];
  if (engine) {
    files = [{ path: paths.config, content: renderServiceConfig(plan, service)! }];
    spec = engineSpec(service.id, engine, paths, ns);
    binaryHint = path.basename(engine.binary);
  } else {
    const env = appEnvironment(plan, service, paths);
    files = [
      { path: env.TANDEM_DB_PASSWORD_FILE!, content: plan.secrets.dbAppPassword, mode: 0o600 },
      { path: env.TANDEM_SESSION_SECRET_FILE!, content: plan.secrets.sessionSecret, mode: 0o600 },
      {
        path: paths.config,
        content: `${JSON.stringify({ argv: plan.app.start, cwd: plan.app.codeDir, env }, null, 2)}\n`,
      },
    ];
    spec = {
      id: service.id,
      namespace: ns,
      argv: plan.app.start,
      cwd: plan.app.codeDir,
      env,
      stopSignal: 'SIGTERM',
      stopTimeoutMs: 10_000,
    };
    binaryHint = path.basename(plan.app.start[0]!);
  }
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ files: files.map((f) => [f.path, f.content]), spec }))
    .digest('hex')
    .slice(0, 16);
  return {
    service,
    paths,
    engine,
    files,
    spec,
    binaryHint,
    staleFiles: service.kind === 'keepalived' ? Object.values(keepalivedEngine.pidFiles(paths)) : [],
    reloadable: spec.reloadSignal !== undefined && service.kind !== 'app',
    fingerprint,
  };
}

/** Writes the unit's files; returns true when any content changed. */
export function writeUnitFiles(unit: ServiceUnit): boolean {
  let changed = false;
  fs.mkdirSync(unit.paths.data, { recursive: true });
  for (const f of unit.files) {
    let current: string | undefined;
    try {
      current = fs.readFileSync(f.path, 'utf8');
    } catch {}
    if (current === f.content) continue;
    fs.mkdirSync(path.dirname(f.path), { recursive: true });
    const tmp = `${f.path}.tmp`;
    fs.writeFileSync(tmp, f.content, { mode: f.mode ?? 0o644 });
    fs.renameSync(tmp, f.path);
    changed = true;
  }
  return changed;
}

const APPLIED = 'applied.json';

export function appliedFingerprint(unit: ServiceUnit): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(path.join(unit.paths.dir, APPLIED), 'utf8')) as { fingerprint: string })
      .fingerprint;
  } catch {
    return undefined;
  }
}

export function recordApplied(unit: ServiceUnit): void {
  fs.writeFileSync(
    path.join(unit.paths.dir, APPLIED),
    JSON.stringify({ fingerprint: unit.fingerprint, at: new Date().toISOString() }),
  );
}

/** Polls `check` until it passes or `timeoutMs` runs out. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 50,
  hint?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(everyMs);
  }
  throw new TandemError('TANDEM_NOT_READY', `${what} was not ready within ${Math.round(timeoutMs / 1000)} s`, hint);
}

/** An HTTP GET as a neighbour would make it: from inside the host's namespace on netns. */
async function httpStatus(
  plan: Plan,
  hostName: string,
  url: string,
  headers: Record<string, string> = {},
): Promise<number> {
  if (plan.hosting === 'netns') return httpStatusFrom(hostOf(plan, hostName), url, headers);
  return (await httpGet(url, { timeoutMs: 1000, headers })).status;
}

/** The readiness check of each kind: the engine answers where the Plan says it listens. */
export async function isReady(plan: Plan, unit: ServiceUnit): Promise<boolean> {
  const { address, port, kind, host } = unit.service;
  switch (kind) {
    case 'app':
      // The private listener: the public port serves no health endpoint.
      return (await httpStatus(plan, host, `http://${address}:${plan.app.adminPort}/healthz`)) === 200;
    case 'nginx':
      return (await httpStatus(plan, host, `http://${address}:${port}${NGINX_STATUS_PATH}`)) === 200;
    case 'haproxy':
      // Its admin socket answers once it has parsed its config and bound its ports.
      return (await unixRequest(unit.paths.socket, 'show info')).includes('Name: HAProxy');
    case 'dnsmasq': {
      const { stdout } = await run(inNamespace(hostOf(plan, host), ['getent', 'hosts', plan.domain]), {
        timeoutMs: 3000,
      });
      return stdout.includes(plan.lb.vip ?? '');
    }
    case 'keepalived':
      return readSupervisor(unit.paths)?.state === 'running';
    case 'mariadb':
      // Over its socket: the firewall admits no TCP from tandem's own namespace.
      return pingable(unit.paths);
    default:
      return probeTcp(address, port);
  }
}
