/**
 * What running one service of the Plan means: the files it needs, the supervised
 * command, its readiness check. Builds on render/ and engines/ (pure) and asks
 * hosts/ to act.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { buildAssets, manifestText, MANIFEST_NAME, readAssetSources } from '../app/assets.ts';
import { DEFAULTS } from '../config/defaults.ts';
import { type ServicePaths, servicePaths } from '../config/paths.ts';
import { hostOf } from '../config/resolve.ts';
import type { Plan, PlanService } from '../config/types.ts';
import { keepalivedEngine } from '../engines/keepalived.ts';
import { engines, etcdMemberTls } from '../engines/index.ts';
import type { Engine } from '../engines/types.ts';
import { TandemError } from '../errors.ts';
import { httpGet, probeTcp, tcpListeners, unixRequest } from '../hosts/net.ts';
import { httpStatusFrom, inNamespace } from '../hosts/netns.ts';
import { run } from '../hosts/process.ts';
import type { Secrets } from '../hosts/secrets.ts';
import type { SupervisedSpec } from '../hosts/supervise.ts';
import { enginePidOf, readSupervisor, sleep } from '../hosts/supervise.ts';
import { processTree } from '../hosts/proc.ts';
import { NGINX_STATUS_PATH, renderServiceConfig } from '../render/index.ts';
import { lbAddresses } from '../render/service.ts';
import { readOnlyAclFile } from '../render/haproxy.ts';
import { prebuiltCommand } from '../prebuilt.mjs';
import { pingable } from './database.ts';
import { sentinelConfig, sentinelFiles, sentinelSpec } from './failover.ts';
import { etcdMemberHealthy } from './etcd.ts';
import { engineLogFiles, outputThroughSupervisor } from './log-files.ts';
import { alertReceiverUnit } from './alert-receiver.ts';
import { RECEIVER_READY_PATH } from '../alert-receiver/receiver-config.ts';
import { backupAgentUnit, backupSourceUnit } from './backup.ts';
import { BACKUP_READY_PATH } from '../backup/auth.ts';
import { binlogArchiverUnit } from './binlog-archiver.ts';
import { appAdminPort } from '../deploy/releases.ts';
import { BUNDLED_SERVER } from '../deploy/bundle.ts';
import { isMonitorKind, keepalivedMonitorFiles, keepalivedStateFiles, monitorUnit, readyPathOf } from './monitor.ts';

export interface ServiceFile {
  readonly path: string;
  readonly content: string;
  /** 0o600 for anything holding a secret. */
  readonly mode?: number;
}

export interface ServiceUnit {
  readonly service: PlanService;
  readonly paths: ServicePaths;
  /** The engine that runs it (its check command); undefined for the app (tandem's own code). */
  readonly engine?: Pick<Engine, 'name' | 'checkCommand'>;
  readonly files: readonly ServiceFile[];
  readonly spec: SupervisedSpec;
  /** Files a previous run may have left that would stop the engine from starting (pid files). */
  readonly staleFiles: readonly string[];
  /** A config change is applied by a reload signal rather than a restart. */
  readonly reloadable: boolean;
  /**
   * Hash over everything that, when changed, means the running service is stale. It
   * covers the app's secret files only in a unit made with the secrets (by `up`).
   */
  readonly fingerprint: string;
  /** Files made by another step that the engine reads (HAProxy's certificate): part of what it applies. */
  readonly inputs: readonly string[];
}

/** Environment of one app process: addresses and paths, never secret values. */
export function appEnvironment(plan: Plan, service: PlanService, paths: ServicePaths): Record<string, string> {
  const release = plan.app.releases?.[service.host];
  const addr = (name: string) => `${hostOf(plan, name).address}:${plan.db.port}`;
  return {
    NODE_ENV: 'production',
    TANDEM_HOST: service.host,
    TANDEM_APP_ADDRESS: service.address,
    TANDEM_APP_PORT: String(service.port),
    TANDEM_ADMIN_PORT: String(appAdminPort(plan, service)),
    TANDEM_DB_PRIMARY: addr(plan.db.primary),
    TANDEM_DB_REPLICAS: plan.db.replicas.map(addr).join(','),
    // Every database host: the app finds the primary among them and follows a failover.
    TANDEM_DB_NODES: [plan.db.primary, ...plan.db.replicas].map(addr).join(','),
    TANDEM_DB_NAME: plan.db.name,
    TANDEM_DB_USER: plan.db.users.app,
    TANDEM_DB_PASSWORD_FILE: path.join(paths.dir, 'db-password'),
    TANDEM_DB_SOURCE_ADDRESS: service.address,
    TANDEM_SESSION_SECRET_FILE: path.join(paths.dir, 'session-secret'),
    TANDEM_BODY_LIMIT: String(plan.app.bodyLimit),
    TANDEM_DB_COALESCE_READS: plan.app.coalesceReads ? '1' : '0',
    TANDEM_TRUSTED_PROXIES: trustedProxies(plan, service).join(','),
    // The pages link the assets by their hashed names (orchestrate/assets.ts builds the same ones for nginx).
    TANDEM_ASSETS_MANIFEST: path.join(paths.dir, MANIFEST_NAME),
    // `tandem deploy`: the app names its release in x-release and /whoami.
    ...(release ? { TANDEM_RELEASE: release.id } : {}),
  };
}

/**
 * The proxies whose X-Forwarded-For the app believes: the web hosts that proxy to it,
 * and the LBs in front of them (nginx appends the LB's address to the client's).
 */
function trustedProxies(plan: Plan, app: PlanService): string[] {
  const webs = plan.hosts.filter((h) => (plan.web.upstreams[h.name] ?? []).some((u) => u.address === app.address));
  return [...new Set([...webs.map((h) => h.address), ...lbAddresses(plan)])];
}

function engineSpec(service: PlanService, engine: Engine, paths: ServicePaths, namespace?: string): SupervisedSpec {
  // keepalived must start in the root namespace (its process tracking needs the
  // kernel's process events, which exist only there) and enters the host's itself.
  const own = engine.startsInRootNamespace === true;
  const logFiles = engineLogFiles(service);
  return {
    id: service.id,
    namespace: own ? undefined : namespace,
    argv: engine.runCommand(paths, own ? namespace : undefined),
    cwd: paths.dir,
    stopSignal: engine.stopSignal,
    reloadSignal: engine.reloadSignal ?? undefined,
    stopTimeoutMs: engine.stopGraceMs,
    liveness: engine.livenessProbe?.(paths),
    ...(logFiles.length > 0 ? { logFiles } : {}),
    ...(outputThroughSupervisor(service) ? { pipeOutput: true } : {}),
  };
}

/** The secrets an app process or a sentinel reads from its files. */
export type AppSecrets = Pick<
  Secrets,
  'dbAppPassword' | 'sessionSecret' | 'dbReplicationPassword' | 'dbMonitorPassword' | 'dbBackupPassword' | 'backupKey'
> &
  Partial<Pick<Secrets, 'dbArchivePassword'>>;

/**
 * One service as `up` runs it. Only `up` passes `secrets` (the app's password files
 * are then among its files); status, down and plan make units without, and never hold one.
 */
export function unitOf(plan: Plan, service: PlanService, secrets?: AppSecrets): ServiceUnit {
  const paths = servicePaths(service);
  const ns = hostOf(plan, service.host).namespace;
  let files: ServiceFile[];
  let spec: SupervisedSpec;
  let engine: ServiceUnit['engine'];
  const { kind } = service;
  if (isMonitorKind(kind)) {
    ({ engine, files, spec } = monitorUnit(plan, { ...service, kind }, paths, secrets));
  } else if (kind === 'alert-receiver') {
    ({ files, spec } = alertReceiverUnit(service, paths, ns));
  } else if (kind === 'backup-source') {
    ({ files, spec } = backupSourceUnit(plan, service, paths, ns, secrets));
  } else if (kind === 'backup-agent') {
    ({ files, spec } = backupAgentUnit(plan, service, paths, ns, secrets));
  } else if (kind === 'binlog-archiver') {
    const archiveSecrets =
      secrets?.dbArchivePassword && secrets.backupKey
        ? { dbArchivePassword: secrets.dbArchivePassword, backupKey: secrets.backupKey }
        : undefined;
    ({ files, spec } = binlogArchiverUnit(plan, service, paths, ns, archiveSecrets));
  } else if (kind !== 'app' && kind !== 'sentinel') {
    engine = engines[kind];
    files = [
      { path: paths.config, content: renderServiceConfig(plan, service)! },
      // Empty: `tandem restore` adds its entry through the runtime API only.
      ...(kind === 'haproxy' ? [{ path: readOnlyAclFile(paths), content: '' }] : []),
      ...keepalivedMonitorFiles(plan, service),
    ];
    const stateFiles = keepalivedStateFiles(plan, service);
    spec = { ...engineSpec(service, engines[kind], paths, ns), ...(stateFiles.length > 0 ? { stateFiles } : {}) };
  } else if (service.kind === 'sentinel') {
    const { passwordFile, backupPasswordFile } = sentinelFiles(paths);
    files = [
      ...(secrets
        ? [
            { path: passwordFile, content: secrets.dbReplicationPassword, mode: 0o600 },
            { path: backupPasswordFile, content: secrets.dbBackupPassword, mode: 0o600 },
          ]
        : []),
      { path: paths.config, content: `${JSON.stringify(sentinelConfig(plan, service, paths), null, 2)}\n` },
    ];
    spec = sentinelSpec(service, paths, ns);
  } else {
    const env = appEnvironment(plan, service, paths);
    const release = plan.app.releases?.[service.host];
    const codeDir = release?.dir ?? plan.app.codeDir;
    const argv = release ? releaseCommand(plan, release.dir) : appCommand(plan);
    files = [
      ...(secrets
        ? [
            { path: env.TANDEM_DB_PASSWORD_FILE!, content: secrets.dbAppPassword, mode: 0o600 },
            { path: env.TANDEM_SESSION_SECRET_FILE!, content: secrets.sessionSecret, mode: 0o600 },
          ]
        : []),
      {
        path: paths.config,
        content: `${JSON.stringify({ argv, cwd: codeDir, env }, null, 2)}\n`,
      },
      // Part of the fingerprint: changed assets restart the app, whose pages then link the new names.
      { path: env.TANDEM_ASSETS_MANIFEST!, content: manifestText(buildAssets(readAssetSources(codeDir))) },
    ];
    spec = {
      id: service.id,
      namespace: ns,
      argv,
      cwd: codeDir,
      env,
      stopSignal: 'SIGTERM',
      stopTimeoutMs: 10_000,
    };
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
    staleFiles: service.kind === 'keepalived' ? Object.values(keepalivedEngine.pidFiles(paths)) : [],
    reloadable: spec.reloadSignal !== undefined && service.kind !== 'app',
    fingerprint,
    inputs: inputsOf(plan, service),
  };
}

/**
 * The app's argv: tandem's own app started the default way runs prebuilt (src/prebuilt.mjs);
 * any other code base or command runs as configured.
 */
function appCommand(plan: Plan): readonly string[] {
  const ownDefault = isDeepStrictEqual(plan.app.start, DEFAULTS.app.start);
  return (ownDefault && prebuiltCommand(path.join(plan.app.codeDir, 'server.ts'))) || plan.app.start;
}

/**
 * The app's argv in a release: the entry tandem bundled into it
 * (orchestrate/release-build.ts) when the start command is the default, else the configured command, run in the release.
 */
function releaseCommand(plan: Plan, dir: string): readonly string[] {
  const bundled = path.join(dir, BUNDLED_SERVER);
  if (isDeepStrictEqual(plan.app.start, DEFAULTS.app.start) && fs.existsSync(bundled))
    return [process.execPath, '--enable-source-maps', bundled];
  return plan.app.start;
}

/** Files made by another step that the engine reads: a new one restarts or reloads it. */
function inputsOf(plan: Plan, service: PlanService): string[] {
  if (service.kind === 'haproxy' && plan.tls.enabled) return [plan.tls.pem];
  if (service.kind === 'etcd') return Object.values(etcdMemberTls(service));
  return [];
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

/** The fingerprint with the unit's inputs as they are now (the certificate may be new). */
export function currentFingerprint(unit: ServiceUnit): string {
  if (unit.inputs.length === 0) return unit.fingerprint;
  const hash = createHash('sha256').update(unit.fingerprint);
  for (const file of unit.inputs) hash.update(fs.existsSync(file) ? fs.readFileSync(file) : '');
  return hash.digest('hex').slice(0, 16);
}

export function appliedFingerprint(unit: ServiceUnit): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(path.join(unit.paths.dir, APPLIED), 'utf8')) as { fingerprint: string })
      .fingerprint;
  } catch {
    return undefined;
  }
}

/** Records what the running engine applied: call only once it is up and ready with it. */
export function recordApplied(unit: ServiceUnit): void {
  fs.writeFileSync(
    path.join(unit.paths.dir, APPLIED),
    JSON.stringify({ fingerprint: currentFingerprint(unit), at: new Date().toISOString() }),
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
export async function httpStatus(
  plan: Plan,
  hostName: string,
  url: string,
  headers: Record<string, string> = {},
): Promise<number> {
  if (plan.hosting === 'netns') return httpStatusFrom(hostOf(plan, hostName), url, headers);
  return (await httpGet(url, { timeoutMs: 1000, headers })).status;
}

/**
 * HAProxy's port held by a process outside HAProxy's tree while HAProxy's own processes
 * hold none: a reload onto that port cannot bind, however long `up` waits. The holder's
 * PIDs, or undefined (other kinds: undefined).
 */
export async function portHeldByOther(plan: Plan, unit: ServiceUnit): Promise<number[] | undefined> {
  const { address, port, kind, host } = unit.service;
  const engine = kind === 'haproxy' ? enginePidOf(unit.paths) : undefined;
  if (!engine) return undefined;
  const tree = new Set(processTree(engine));
  const listeners = (await tcpListeners(hostOf(plan, host), port)).filter(
    (l) => plan.hosting === 'netns' || l.address === address,
  );
  if (listeners.some((l) => l.pids.some((pid) => tree.has(pid)))) return undefined;
  const other = listeners.flatMap((l) => l.pids);
  return other.length > 0 ? other : undefined;
}

/** The readiness check of each kind: the engine answers where the Plan says it listens. */
export async function isReady(plan: Plan, unit: ServiceUnit): Promise<boolean> {
  const { address, port, kind, host } = unit.service;
  switch (kind) {
    case 'app':
      // The private listener: the public port serves no health endpoint.
      return (await httpStatus(plan, host, `http://${address}:${appAdminPort(plan, unit.service)}/healthz`)) === 200;
    case 'nginx':
      return (await httpStatus(plan, host, `http://${address}:${port}${NGINX_STATUS_PATH}`)) === 200;
    case 'haproxy': {
      // Its admin socket answers once it has parsed its config; and its own processes
      // listen on the plan's port (a reload that cannot bind leaves the old workers serving).
      if (!(await unixRequest(unit.paths.socket, 'show info')).includes('Name: HAProxy')) return false;
      const engine = enginePidOf(unit.paths);
      const tree = new Set(engine ? processTree(engine) : []);
      const listeners = await tcpListeners(hostOf(plan, host), port);
      // netns: it binds the VIP (and maybe the host address), alone in its namespace.
      return listeners.some(
        (l) => (plan.hosting === 'netns' || l.address === address) && l.pids.some((pid) => tree.has(pid)),
      );
    }
    case 'dnsmasq': {
      const { stdout } = await run(inNamespace(hostOf(plan, host), ['getent', 'hosts', plan.domain]), {
        timeoutMs: 3000,
      });
      return stdout.includes(plan.lb.vip ?? '');
    }
    case 'keepalived':
      return readSupervisor(unit.paths)?.state === 'running';
    case 'etcd':
      return etcdMemberHealthy(plan, host);
    case 'mariadb':
      // Over its socket: the firewall admits no TCP from tandem's own namespace.
      return pingable(unit.paths);
    case 'sentinel': {
      // It writes its state every tick: a fresh state file is a live sentinel.
      const stat = fs.statSync(sentinelFiles(unit.paths).stateFile, { throwIfNoEntry: false });
      return stat !== undefined && Date.now() - stat.mtimeMs < 3000;
    }
    case 'prometheus':
    case 'alertmanager':
    case 'blackbox-exporter':
    case 'node-exporter':
    case 'mysqld-exporter':
    case 'nginx-exporter':
      return (await httpStatus(plan, host, `http://${address}:${port}${readyPathOf(kind)}`)) === 200;
    case 'alert-receiver':
      return (await httpStatus(plan, host, `http://${address}:${port}${RECEIVER_READY_PATH}`)) === 200;
    case 'backup-source':
      return (await httpStatus(plan, host, `http://${address}:${port}${BACKUP_READY_PATH}`)) === 200;
    case 'backup-agent':
      return (await httpStatus(plan, host, `http://${address}:${port}${BACKUP_READY_PATH}`)) === 200;
    case 'binlog-archiver':
      // It answers /state once its first tick is done.
      return (await httpStatus(plan, host, `http://${address}:${port}/state`)) === 200;
    default:
      return probeTcp(address, port);
  }
}
