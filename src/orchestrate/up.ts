/**
 * `up`: bring every service of the Plan to its desired state, in dependency order,
 * each step idempotent with a readiness check. A second run changes nothing.
 */
import fs from 'node:fs';
import { hostOf } from '../config/resolve.ts';
import type { Plan } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { bindError } from '../hosts/net.ts';
import { ensureNetwork, inNamespace } from '../hosts/netns.ts';
import { run } from '../hosts/process.ts';
import { loadOrCreateSecrets } from '../hosts/secrets.ts';
import {
  enginePidOf,
  readSupervisor,
  reapOrphan,
  reloadSupervised,
  startSupervised,
  stopSupervised,
} from '../hosts/supervise.ts';
import { attachReplica, bootstrapPrimary, enableSemiSync, initialise, migrate } from './database.ts';
import { missingEngines } from './doctor.ts';
import { type Emit, silent, step } from './events.ts';
import { applyFirewall } from './firewall.ts';
import { backendStates, vipHolder } from './lb.ts';
import { startOrder } from './order.ts';
import {
  appEnvironment,
  appliedFingerprint,
  currentFingerprint,
  isReady,
  recordApplied,
  type ServiceUnit,
  unitOf,
  waitFor,
  writeUnitFiles,
} from './services.ts';
import { claimStackName, recordStackUp } from './stack-record.ts';
import { ensureTls } from './tls.ts';

export interface UpResult {
  readonly changed: boolean;
  readonly url: string;
}

/** Refuses to start anything when an engine is missing or a needed address:port is taken. */
async function preflight(plan: Plan, units: readonly ServiceUnit[]): Promise<void> {
  if (plan.hosting === 'netns' && process.getuid?.() !== 0) {
    throw new TandemError(
      'TANDEM_USAGE',
      'netns hosting creates network namespaces, which needs root',
      "run as root, or set hosting: 'loopback' in tandem.config.ts (no isolation, no VIP)",
    );
  }
  claimStackName(plan);
  const missing = missingEngines(plan.hosting);
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

/** Brings one service to its desired state. Returns what changed, or undefined for nothing. */
async function ensureService(plan: Plan, unit: ServiceUnit, forceReload = false): Promise<string | undefined> {
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
  if (unit.service.kind === 'mariadb' && (await initialise(unit.paths))) did = 'initialised';
  const stale = forceReload || appliedFingerprint(unit) !== currentFingerprint(unit);
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
  const ready = () => isReady(plan, unit);
  await waitFor(
    unit.service.id,
    ready,
    unit.service.kind === 'mariadb' ? 60_000 : 20_000,
    50,
    `see its logs: ${unit.paths.output} and ${unit.paths.log}`,
  );
  recordApplied(unit);
  return did;
}

export async function up(plan: Plan, opts: { emit?: Emit } = {}): Promise<UpResult> {
  const emit = opts.emit ?? silent;
  // Apart from the Plan: generated (0600) at the first up, handed only to the steps that need one.
  const { secrets } = loadOrCreateSecrets(plan.secretsFile);
  const units = startOrder(plan.services).map((s) => unitOf(plan, s, secrets));
  await step(emit, 'preflight', async () => {
    await preflight(plan, units);
    return { changed: false, detail: `${plan.hosts.length} hosts, ${units.length} services, ${plan.hosting} hosting` };
  });
  recordStackUp(plan, false);
  let changed = false;
  if (plan.hosting === 'netns') {
    changed =
      (await step(emit, `network ${plan.network.subnet} on ${plan.network.bridge}`, () => ensureNetwork(plan))) ||
      changed;
    for (const host of plan.hosts) {
      changed = (await step(emit, `firewall ${host.name}`, () => applyFirewall(plan, host))) || changed;
    }
  }
  // A new certificate is read by HAProxy only when it reloads.
  const newCertificate = plan.tls.enabled && (await step(emit, 'tls certificate', () => ensureTls(plan)));
  changed = newCertificate || changed;
  const ensure = async (unit: ServiceUnit) => {
    changed =
      (await step(emit, unit.service.id, async () => {
        const did = await ensureService(plan, unit, newCertificate && unit.service.kind === 'haproxy');
        return { changed: did !== undefined, detail: did ?? 'unchanged' };
      })) || changed;
  };
  const dbUnits = units.filter((u) => u.service.kind === 'mariadb');
  for (const unit of dbUnits) await ensure(unit);
  if (dbUnits.length > 0) {
    changed = (await step(emit, 'db users and schema', () => bootstrapPrimary(plan, secrets))) || changed;
    for (const replica of plan.db.replicas) {
      changed =
        (await step(emit, `db replication ${plan.db.primary} → ${replica}`, () =>
          attachReplica(plan, replica, secrets),
        )) || changed;
    }
    changed = (await step(emit, 'db semi-sync', () => enableSemiSync(plan))) || changed;
    const firstApp = units.find((u) => u.service.kind === 'app');
    if (firstApp) {
      await step(emit, 'db migrations', async () => {
        writeUnitFiles(firstApp); // the migration reads the app's password file
        const detail = await migrate(
          plan,
          firstApp.service.host,
          appEnvironment(plan, firstApp.service, firstApp.paths),
        );
        return { changed: Number(/(\d+) applied/.exec(detail)?.[1] ?? 0) > 0, detail };
      });
    }
  }
  for (const unit of units.filter((u) => u.service.kind !== 'mariadb')) await ensure(unit);
  await step(emit, 'load balancer sees the servers', async () => {
    const wanted = plan.lb.backends.length * plan.services.filter((s) => s.kind === 'haproxy').length;
    await waitFor(
      'every backend UP in HAProxy',
      // HAProxy starts servers UP before any check ran: wait for a passed check.
      async () =>
        (await backendStates(plan)).filter((b) => b.status.startsWith('UP') && b.check === 'L7OK').length === wanted,
      20_000,
      100,
    );
    return { changed: false, detail: `${wanted} server(s) UP, health checks passing` };
  });
  if (plan.lb.vip) {
    await step(emit, `floating IP ${plan.lb.vip}`, async () => {
      let holder: string | undefined;
      await waitFor(
        `a load balancer holding ${plan.lb.vip}`,
        async () => (holder = await vipHolder(plan)) !== undefined,
        10_000,
        100,
      );
      return { changed: false, detail: `held by ${holder}` };
    });
  }
  recordStackUp(plan, true);
  return { changed, url: plan.url };
}
