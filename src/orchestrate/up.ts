/**
 * `up`: bring every service of the Plan to its desired state, each step idempotent with
 * a readiness check. Steps run as soon as the steps they depend on are done, so the two
 * databases, the apps, the nginx pair and the LB pair each come up side by side. A
 * second run changes nothing.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hostOf } from '../config/resolve.ts';
import type { Plan, PlanService } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { bindError, listeningBeside } from '../hosts/net.ts';
import { mariadbTmpDir } from '../render/mariadb.ts';
import { ensureNetwork, inNamespace } from '../hosts/netns.ts';
import { run } from '../hosts/process.ts';
import { loadOrCreateSecrets, type Secrets } from '../hosts/secrets.ts';
import {
  enginePidOf,
  readSupervisor,
  reapOrphan,
  reloadSupervised,
  startSupervised,
  stopSupervised,
} from '../hosts/supervise.ts';
import {
  attachReplica,
  bootstrapPrimary,
  dbPaths,
  dbService,
  enableSemiSync,
  initialise,
  isInitialised,
  migrate,
  waitForSemiSync,
} from './database.ts';
import { assetsStep, ensureAssets, webHosts } from './assets.ts';
import { missingEngines } from './doctor.ts';
import { runningCodeDir } from '../deploy/releases.ts';
import { codeDrift } from './release-build.ts';
import { waitForPrimary, waitForReplicas, withPrimary } from './failover.ts';
import { type Emit, silent, step, type StepResult } from './events.ts';
import { applyFirewall } from './firewall.ts';
import { isMonitorKind } from './monitor.ts';
import { backendStates, setServerState, vipHolder } from './lb.ts';
import { runSteps, startOrder, type Step } from './order.ts';
import {
  appEnvironment,
  appliedFingerprint,
  currentFingerprint,
  isReady,
  portHeldByOther,
  recordApplied,
  type ServiceUnit,
  unitOf,
  waitFor,
  writeUnitFiles,
} from './services.ts';
import { claimStackName, recordStackUp } from './stack-record.ts';
import { ensureTls } from './tls.ts';
import { ensureEtcdTls } from './etcd.ts';

export interface UpResult {
  readonly changed: boolean;
  readonly url: string;
}

/** Refuses to start anything when an engine is missing or a needed address:port is taken. */
async function preflight(plan: Plan, units: readonly ServiceUnit[]): Promise<void> {
  if (plan.hosting === 'ssh') {
    throw new TandemError(
      'TANDEM_USAGE',
      '`up` over SSH is not built yet (issue 12): today ssh hosting has `tandem lab up|down` and the SSH transport',
      "use hosting: 'netns' or 'loopback' to bring the stack up on this machine",
    );
  }
  if (plan.hosting === 'netns' && process.getuid?.() !== 0) {
    throw new TandemError(
      'TANDEM_USAGE',
      'netns hosting creates network namespaces, which needs root',
      "run as root, or set hosting: 'loopback' in tandem.config.ts (no isolation, no VIP)",
    );
  }
  claimStackName(plan);
  const missing = missingEngines(plan.hosting, plan.monitor !== undefined);
  if (missing.length > 0) {
    throw new TandemError(
      'TANDEM_MISSING_ENGINE',
      `missing: ${missing.map((m) => `${m.binary} (Debian package ${m.debianPackage})`).join(', ')}`,
      `install them: apt-get install -y ${missing.map((m) => m.debianPackage).join(' ')} (or run \`tandem doctor\`)`,
    );
  }
  // netns: every address lives in a namespace tandem creates; only the subnet can clash.
  if (plan.hosting === 'netns') return;
  const taken: string[] = [];
  for (const unit of units) {
    // Its own engine holds the port (an orphan is reaped before the start).
    if (readSupervisor(unit.paths) || enginePidOf(unit.paths)) continue;
    const { address, port, id } = unit.service;
    const err = await bindError(address, port);
    if (err) taken.push(`${address}:${port} (for ${id}): ${err}`);
  }
  if (taken.length > 0) {
    throw new TandemError(
      'TANDEM_ADDRESS_IN_USE',
      `cannot listen where the plan says; nothing was started:\n  ${taken.join('\n  ')}`,
      'stop whatever holds those ports, or choose another network.subnet / port in tandem.config.ts',
    );
  }
}

/**
 * netns: an HTTP readiness probe spawns a process in the host's namespace. While a
 * service starts, first wait (spawning nothing) until its port listens there.
 */
function listening(plan: Plan, unit: ServiceUnit): boolean {
  const { kind, address, port } = unit.service;
  if (plan.hosting !== 'netns' || (kind !== 'app' && kind !== 'nginx' && !isMonitorKind(kind))) return true;
  const pid = readSupervisor(unit.paths)?.pid;
  return pid ? (listeningBeside(pid, address, port) ?? true) : false;
}

/** Brings one service to its desired state. Returns what changed, or undefined for nothing. */
export async function ensureService(plan: Plan, unit: ServiceUnit): Promise<string | undefined> {
  const running = readSupervisor(unit.paths);
  const previous = new Map(
    unit.files.map((f) => [f.path, fs.existsSync(f.path) ? fs.readFileSync(f.path, 'utf8') : undefined]),
  );
  const filesChanged = writeUnitFiles(unit);
  const check = unit.engine?.checkCommand(unit.paths);
  if (filesChanged && check) {
    try {
      // In the host's namespace: nginx -t binds its listen addresses to check them.
      await run(inNamespace(hostOf(plan, unit.service.host), check), { timeoutMs: 20_000 });
    } catch (err) {
      // Leave the service as it was: put the old files back.
      for (const [file, content] of previous) if (content !== undefined) fs.writeFileSync(file, content);
      throw err;
    }
  }
  let did: string | undefined;
  if (unit.service.kind === 'mariadb') {
    fs.mkdirSync(mariadbTmpDir(unit.paths.dir), { recursive: true, mode: 0o700 });
    try {
      if (await initialise(unit.paths)) did = 'initialised';
    } catch (err) {
      // A half-made datadir would pass for an initialised one on the next run.
      fs.rmSync(unit.paths.data, { recursive: true, force: true });
      throw err;
    }
  }
  // HAProxy's fingerprint covers its certificate file (unit.inputs): a new one reloads it.
  const stale = appliedFingerprint(unit) !== currentFingerprint(unit);
  if (running && running.state !== 'stopping' && !stale) {
    // Up already, with this exact config.
  } else if (running && unit.reloadable) {
    reloadSupervised(unit.paths);
    did = 'reloaded with the new config';
  } else {
    if (running) await stopSupervised(unit.paths);
    else reapOrphan(unit.paths);
    // keepalived refuses to start while its pid file names a live process (even a zombie).
    for (const file of unit.staleFiles) fs.rmSync(file, { force: true });
    await startSupervised(unit.paths, unit.spec);
    did = did ? `${did}, started` : running ? 'restarted with the new config' : 'started';
  }
  // After a reload or restart (a new start had its ports checked in preflight), waiting
  // ends early when another process holds the port: the engine cannot bind it.
  let heldBy: number[] | undefined;
  const ready = async () =>
    (listening(plan, unit) && (await isReady(plan, unit))) ||
    (running !== undefined && (heldBy = await portHeldByOther(plan, unit)) !== undefined);
  await waitFor(
    unit.service.id,
    ready,
    unit.service.kind === 'mariadb' ? 60_000 : 20_000,
    50,
    `see its logs: ${unit.paths.output} and ${unit.paths.log}`,
  );
  if (heldBy) {
    const { address, port } = unit.service;
    throw new TandemError(
      'TANDEM_ADDRESS_IN_USE',
      `${unit.service.id} cannot listen on ${address}:${port}: pid ${heldBy.join(', ')} holds it`,
      'stop whatever holds that port, or choose another port in tandem.config.ts, then run `tandem up` again',
    );
  }
  recordApplied(unit);
  return did;
}

/** Where a one-off step records the inputs it last succeeded with. */
function recordPath(plan: Plan, stepName: string): string {
  return path.join(plan.stateDir, 'applied', `${stepName.replace(/[^a-z0-9-]+/gi, '-')}.json`);
}

/**
 * Fingerprint of a database step's inputs, tied to the primary's data directory by its
 * birth time and inode: a re-initialised database never matches an old record.
 */
function dbStepKey(plan: Plan, inputs: unknown): string {
  const system = fs.statSync(path.join(dbPaths(plan, plan.db.primary).data, 'mysql'), { bigint: true });
  return createHash('sha256')
    .update(JSON.stringify({ inputs, data: [String(system.ino), String(system.birthtimeNs)] }))
    .digest('hex');
}

/**
 * Runs a one-off step (users, migrations) unless its recorded key matches: its inputs
 * did not change since it last succeeded. The record is written only after success.
 */
async function unlessApplied(
  plan: Plan,
  stepName: string,
  key: () => string,
  apply: () => Promise<StepResult>,
): Promise<StepResult> {
  const file = recordPath(plan, stepName);
  const before = key();
  try {
    if ((JSON.parse(fs.readFileSync(file, 'utf8')) as { key: string }).key === before) {
      return { changed: false, detail: 'unchanged (inputs as when it last succeeded)' };
    }
  } catch {}
  const result = await apply();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ key: key(), at: new Date().toISOString() }));
  return result;
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** The app's migration code and files: a change in any of them means migrations must run. */
function migrationInputs(codeDir: string): string[] {
  const dir = path.join(codeDir, 'migrations');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  return [path.join(codeDir, 'migrate.ts'), ...files.map((f) => path.join(dir, f))].map((f) =>
    fs.existsSync(f) ? `${f} ${sha(fs.readFileSync(f, 'utf8'))}` : `${f} absent`,
  );
}

/** The database's set-up steps, as named steps with their order. `ready` names what apps wait for. */
function databaseSteps(
  plan: Plan,
  units: readonly ServiceUnit[],
  secrets: Secrets,
): { steps: Step[]; ready: string[] } {
  if (!units.some((u) => u.service.kind === 'mariadb')) return { steps: [], ready: [] };
  if (plan.db.failover) return failoverDatabaseSteps(plan, units, secrets);
  const steps: Step[] = [];
  const { primary, replicas } = plan.db;
  const users = 'db users and schema';
  steps.push({
    name: users,
    after: [dbService(plan, primary).id],
    run: () =>
      unlessApplied(
        plan,
        users,
        () =>
          dbStepKey(plan, {
            db: plan.db,
            hosts: plan.hosts.map((h) => [h.name, h.address, h.roles]),
            hosting: plan.hosting,
            // Hashed: the record holds no secret.
            secrets: sha(JSON.stringify(secrets)),
          }),
        () => bootstrapPrimary(plan, secrets),
      ),
  });
  const replication = replicas.map((r) => `db replication ${primary} → ${r}`);
  replicas.forEach((replica, i) =>
    steps.push({
      name: replication[i]!,
      after: [users, dbService(plan, replica).id],
      run: () => attachReplica(plan, replica, secrets),
    }),
  );
  const semiSync = 'db semi-sync';
  steps.push({ name: semiSync, after: [users, ...replication], run: () => enableSemiSync(plan) });
  const ready = [users, semiSync];
  steps.push(...migrationSteps(() => plan, units, users, ready));
  return { steps, ready };
}

/** The app's migrations, on the primary of `live()`, once users exist; pushed onto `ready`. */
function migrationSteps(live: () => Plan, units: readonly ServiceUnit[], users: string, ready: string[]): Step[] {
  const firstApp = units.find((u) => u.service.kind === 'app');
  if (!firstApp) return [];
  const migrations = 'db migrations';
  ready.push(migrations);
  return [
    {
      name: migrations,
      after: [users],
      run: () => {
        const plan = live();
        return unlessApplied(
          plan,
          migrations,
          () =>
            dbStepKey(plan, {
              primary: plan.db.primary,
              migrations: migrationInputs(runningCodeDir(plan, firstApp.service.host)),
            }),
          async () => {
            writeUnitFiles(firstApp); // the migration reads the app's password file
            const detail = await migrate(
              plan,
              firstApp.service.host,
              appEnvironment(plan, firstApp.service, firstApp.paths),
              runningCodeDir(plan, firstApp.service.host),
            );
            return { changed: Number(/(\d+) applied/.exec(detail)?.[1] ?? 0) > 0, detail };
          },
        );
      },
    },
  ];
}

/**
 * The database steps under the sentinels: wait until they made one database the primary,
 * then users and schema there; the sentinels attach the replicas and turn semi-sync on,
 * and `up` waits until they did.
 */
function failoverDatabaseSteps(
  plan: Plan,
  units: readonly ServiceUnit[],
  secrets: Secrets,
): { steps: Step[]; ready: string[] } {
  let live = plan;
  const sentinels = units.filter((u) => u.service.kind === 'sentinel').map((u) => u.service.id);
  const primary = 'db primary (sentinels)';
  const users = 'db users and schema';
  const replication = 'db replication (sentinels)';
  const steps: Step[] = [
    {
      name: primary,
      after: sentinels,
      run: async () => {
        live = withPrimary(plan, await waitForPrimary(plan));
        return { changed: false, detail: `${live.db.primary} is primary` };
      },
    },
    {
      name: users,
      after: [primary],
      run: () =>
        unlessApplied(
          live,
          users,
          () =>
            dbStepKey(live, {
              db: plan.db,
              hosts: plan.hosts.map((h) => [h.name, h.address, h.roles]),
              hosting: plan.hosting,
              secrets: sha(JSON.stringify(secrets)),
            }),
          () => bootstrapPrimary(live, secrets),
        ),
    },
    {
      name: replication,
      after: [users],
      run: async () => {
        const replicas = await waitForReplicas(plan, live.db.primary);
        if (plan.db.semiSync) await waitForSemiSync(live);
        return {
          changed: false,
          detail: `${replicas.join(', ')} replicate${replicas.length === 1 ? 's' : ''} from ${live.db.primary}${plan.db.semiSync ? ', semi-sync ON' : ''}`,
        };
      },
    },
  ];
  const ready = [users, replication];
  steps.push(...migrationSteps(() => live, units, users, ready));
  return { steps, ready };
}

/**
 * Running, with the config and files this Plan gives it: its step will only check that
 * it answers. Such a check does not depend on the services it starts after (a running
 * app's /healthz does not wait for the database steps), so it need not wait for them.
 */
function settled(unit: ServiceUnit): boolean {
  if (readSupervisor(unit.paths)?.state !== 'running' || appliedFingerprint(unit) !== currentFingerprint(unit))
    return false;
  if (unit.service.kind === 'mariadb' && !isInitialised(unit.paths)) return false;
  return unit.files.every((f) => {
    try {
      return fs.readFileSync(f.path, 'utf8') === f.content;
    } catch {
      return false;
    }
  });
}

/**
 * What a service's step waits for: its host's network and firewall, the services the
 * Plan starts it after, and the database set-up for apps that run already (unless it is
 * settled: then only its host). A replica database starts beside its primary:
 * replication is its own step, after both. HAProxy always waits for the certificate,
 * which may make it reload.
 */
function serviceAfter(plan: Plan, unit: ServiceUnit, base: (host: string) => string[], dbReady: string[]): string[] {
  const { kind, after, host } = unit.service;
  const deps = [...base(host)];
  if (kind === 'haproxy' && plan.tls.enabled) deps.push(TLS_STEP);
  // nginx serves the code base's assets from its host's folder: built before it starts.
  if (kind === 'nginx') deps.push(assetsStep(host));
  // Prometheus scrapes etcd with the client certificate; the blackbox probe trusts the CA.
  if (kind === 'etcd' || (kind === 'prometheus' && plan.etcd)) deps.push(ETCD_TLS_STEP);
  if (kind === 'blackbox-exporter' && plan.tls.enabled) deps.push(TLS_STEP);
  if (settled(unit)) return deps;
  const byId = new Map(plan.services.map((s) => [s.id, s]));
  deps.push(...(kind === 'mariadb' ? after.filter((id) => byId.get(id)?.kind !== 'mariadb') : after));
  // An app that runs waits for the database steps before it restarts (its new config
  // may need them). One that does not run yet starts beside them: it touches the
  // database only when asked, and the LB's checks (its /readyz) wait for the database.
  if (kind === 'app' && readSupervisor(unit.paths)) deps.push(...dbReady);
  if (kind === 'keepalived') deps.push(...higherPriority(plan, host).map((lb) => `${lb}/keepalived`));
  return deps;
}

/**
 * The LBs whose VRRP priority is above this one's. Their keepalived starts first, so the
 * VIP lands on the highest-priority LB: with nopreempt, two started at once race for it.
 */
function higherPriority(plan: Plan, host: string): string[] {
  const priorities = plan.lb.vrrp?.priorities ?? {};
  const mine = priorities[host] ?? 0;
  return Object.keys(priorities).filter((lb) => (priorities[lb] ?? 0) > mine);
}

const TLS_STEP = 'tls certificate';
const ETCD_TLS_STEP = 'etcd certificates';

export async function up(plan: Plan, opts: { emit?: Emit } = {}): Promise<UpResult> {
  const emit = opts.emit ?? silent;
  const started = performance.now();
  // Apart from the Plan: generated (0600) at the first up, handed only to the steps that need one.
  const { secrets } = loadOrCreateSecrets(plan.secretsFile);
  const units = startOrder(plan.services).map((s) => unitOf(plan, s, secrets));
  await step(emit, 'preflight', async () => {
    await preflight(plan, units);
    return { changed: false, detail: `${plan.hosts.length} hosts, ${units.length} services, ${plan.hosting} hosting` };
  });
  recordStackUp(plan, false);
  const steps: Step[] = [];
  let base = (_host: string): string[] => [];
  if (plan.hosting === 'netns') {
    const network = `network ${plan.network.subnet} on ${plan.network.bridge}`;
    steps.push({ name: network, after: [], run: () => ensureNetwork(plan) });
    for (const host of plan.hosts) {
      steps.push({ name: `firewall ${host.name}`, after: [network], run: () => applyFirewall(plan, host) });
    }
    base = (host) => (plan.hosts.some((h) => h.name === host) ? [`firewall ${host}`] : [network]);
  }
  if (plan.tls.enabled) steps.push({ name: TLS_STEP, after: [], run: () => ensureTls(plan) });
  // After the site's step, which may make the CA both use.
  if (plan.etcd)
    steps.push({ name: ETCD_TLS_STEP, after: plan.tls.enabled ? [TLS_STEP] : [], run: () => ensureEtcdTls(plan) });
  for (const host of webHosts(plan))
    steps.push({ name: assetsStep(host.name), after: base(host.name), run: async () => ensureAssets(plan, host) });
  const db = databaseSteps(plan, units, secrets);
  steps.push(...db.steps);
  for (const unit of units) {
    steps.push({
      name: unit.service.id,
      after: serviceAfter(plan, unit, base, db.ready),
      run: async () => {
        const did = await ensureService(plan, unit);
        return { changed: did !== undefined, detail: did ?? 'unchanged' };
      },
    });
  }
  const idsOf = (kind: PlanService['kind']) => units.filter((u) => u.service.kind === kind).map((u) => u.service.id);
  const lbs = idsOf('haproxy');
  steps.push({
    name: 'load balancer sees the servers',
    after: [...idsOf('nginx'), ...lbs, ...db.ready],
    run: async () => {
      const wanted = plan.lb.backends.length * lbs.length;
      // A server left drained by a deploy that did not finish (up holds the stack lock:
      // no deploy runs now) is put back in service.
      const drained = [
        ...new Set(
          (await backendStates(plan).catch(() => []))
            .filter((b) => /^(DRAIN|MAINT)/.test(b.status))
            .map((b) => b.server),
        ),
      ];
      for (const server of drained) await setServerState(plan, server, 'ready');
      await waitFor(
        'every backend UP in HAProxy',
        // HAProxy starts servers UP before any check ran: wait for a passed check.
        async () =>
          (await backendStates(plan)).filter((b) => b.status.startsWith('UP') && b.check === 'L7OK').length === wanted,
        20_000,
        50,
      );
      return {
        changed: drained.length > 0,
        detail: `${wanted} server(s) UP, health checks passing${drained.length > 0 ? ` (${drained.join(', ')} drained by a deploy that did not finish: back in service)` : ''}`,
      };
    },
  });
  if (plan.lb.vip) {
    const vip = plan.lb.vip;
    steps.push({
      name: `floating IP ${vip}`,
      after: idsOf('keepalived'),
      run: async () => {
        let holder: string | undefined;
        await waitFor(
          `a load balancer holding ${vip}`,
          async () => (holder = await vipHolder(plan)) !== undefined,
          10_000,
          50,
        );
        return { changed: false, detail: `held by ${holder}` };
      },
    });
  }
  const changed = await runSteps(emit, steps);
  recordStackUp(plan, true);
  const drift = codeDrift(plan);
  if (drift) emit({ kind: 'note', message: drift });
  emit({
    kind: 'note',
    message: `${steps.length + 1} steps in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  });
  return { changed, url: plan.url };
}
