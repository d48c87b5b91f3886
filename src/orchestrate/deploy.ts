/**
 * `tandem deploy` and `tandem rollback` (issue 11): a release rolled across the app hosts
 * one at a time. Per host: drain its web server in HAProxy and wait until its requests
 * finish; start the release in the host's other slot beside the old process; gate on its
 * /readyz and a smoke request; switch nginx to it (graceful reload) and stop the old
 * process; put the server back and wait until HAProxy has it UP. A release that fails its
 * gate is stopped and the host stays as it was: the deploy ends there, exit 1, with the
 * release's log.
 */
import fs from 'node:fs';
import path from 'node:path';
import { hostPaths, servicePaths } from '../config/paths.ts';
import type { Plan, PlanHost, PlanService } from '../config/types.ts';
import { appAdminPort, type HostReleaseState, otherSlot, withReleases } from '../deploy/releases.ts';
import { TandemError } from '../errors.ts';
import { processTree } from '../hosts/proc.ts';
import { loadOrCreateSecrets } from '../hosts/secrets.ts';
import { enginePidOf, readSupervisor, reapOrphan, sleep, startSupervised, stopSupervised } from '../hosts/supervise.ts';
import { buildAssets, readAssetSources } from '../app/assets.ts';
import { migrate } from './database.ts';
import { type Emit, silent, step, type StepResult } from './events.ts';
import { backendStates, serverSessions, setServerState } from './lb.ts';
import {
  buildRelease,
  copyToHost,
  pruneReleases,
  readRelease,
  type ReleaseInfo,
  stackReleasesDir,
} from './release-build.ts';
import { readHostRelease, readReleaseStates, withRunningReleases, writeHostRelease } from './release-state.ts';
import {
  type AppSecrets,
  appEnvironment,
  appliedFingerprint,
  currentFingerprint,
  httpStatus,
  recordApplied,
  type ServiceUnit,
  unitOf,
  waitFor,
  writeUnitFiles,
} from './services.ts';
import { writeAssets, webHosts } from './assets.ts';
import { ensureService } from './up.ts';

/** How long a drained server's requests may take to finish before the deploy goes on. */
const DRAIN_BOUND_MS = 10_000;
/** How long a new release has to answer /readyz 200. */
const READY_BOUND_MS = 15_000;
/** How long HAProxy has to see a server UP again. */
const UP_BOUND_MS = 15_000;
/** Lines of the release's log shown when it fails its gate. */
const LOG_TAIL_LINES = 15;

export interface HostDeploy {
  readonly host: string;
  readonly from?: string;
  readonly to: string;
  readonly slot: 'a' | 'b';
  /** When its roll began, ms after the deploy began. */
  readonly atMs: number;
  readonly ms: number;
}

export interface DeployResult {
  readonly release: string;
  readonly hosts: readonly HostDeploy[];
  readonly migrations?: string;
  readonly pruned: readonly string[];
  readonly ms: number;
}

export interface DeployOptions {
  /** The code base to release (default: app.codeDir). */
  readonly code?: string;
  /** An existing release to roll out instead of a new one (rollback). */
  readonly release?: string;
  /** Roll the servers in batches (more than two servers only), keeping the rest in service. */
  readonly parallel?: boolean;
  readonly emit?: Emit;
}

const appServices = (plan: Plan): PlanService[] => plan.services.filter((s) => s.kind === 'app');
const hostNamed = (plan: Plan, name: string): PlanHost => plan.hosts.find((h) => h.name === name)!;

/** The app hosts in the LBs' order of their web servers. */
function rollOrder(plan: Plan): PlanService[] {
  const apps = appServices(plan);
  const rank = (s: PlanService) => {
    const i = plan.lb.backends.findIndex((b) => b.address === s.address);
    return i < 0 ? plan.lb.backends.length : i;
  };
  return [...apps].sort((a, b) => rank(a) - rank(b));
}

/**
 * The hosts in the batches a deploy rolls together: one by one, or with `parallel` (more
 * than two servers) half of them at a time, rounded up but never all, so that the others
 * serve meanwhile.
 */
export function rollBatches<T>(hosts: readonly T[], parallel: boolean): T[][] {
  const size = parallel ? Math.max(1, Math.min(hosts.length - 1, Math.ceil(hosts.length / 2))) : 1;
  const out: T[][] = [];
  for (let i = 0; i < hosts.length; i += size) out.push(hosts.slice(i, i + size));
  return out;
}

/** One nginx switch at a time: each renders every host's slot as recorded when it runs. */
let switching: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(work: () => Promise<T>): Promise<T> {
  const run = switching.then(work, work);
  switching = run.catch(() => {});
  return run;
}

/** The web server HAProxy balances over on an app host (colocated layout), if any. */
const backendOf = (plan: Plan, app: PlanService) => plan.lb.backends.find((b) => b.address === app.address);

/**
 * Refuses while a web server is out of service: taking another one out could leave the
 * site with none. Names what is down and what would be the last one serving.
 */
async function refuseWhileDown(plan: Plan): Promise<void> {
  const states = await backendStates(plan);
  const down = [...new Set(states.filter((s) => !s.status.startsWith('UP')).map((s) => s.server))];
  if (down.length === 0) return;
  const up = plan.lb.backends.map((b) => b.name).filter((n) => !down.includes(n));
  const how = states
    .filter((s) => down.includes(s.server))
    .map((s) => `${s.server} ${s.status} at ${s.lb}`)
    .join(', ');
  throw new TandemError(
    'TANDEM_STATE',
    `${down.join(', ')} ${down.length === 1 ? 'is' : 'are'} out of service (${how}): a deploy takes one server out at a time, and ${
      up.length === 0
        ? 'no server is in service'
        : `${up.join(', ')} ${up.length === 1 ? 'is the last healthy server' : 'are the last healthy servers'}`
    }; refusing to take ${up.length === 1 ? 'it' : 'them'} out of service. Nothing was changed.`,
    'bring the server back first (`tandem up`, or `tandem chaos heal`; `tandem status` shows it), then deploy again',
  );
}

function refuseUnlessRunning(plan: Plan): void {
  const stopped = appServices(plan).filter((s) => readSupervisor(servicePaths(s))?.state !== 'running');
  if (stopped.length > 0)
    throw new TandemError(
      'TANDEM_STATE',
      `the app does not run on ${stopped.map((s) => s.host).join(', ')}: a deploy replaces a running app`,
      'run `tandem up` first',
    );
}

/** The last lines a process wrote to its output since `offset`. */
function logTail(file: string, offset: number): string {
  try {
    const text = fs.readFileSync(file).subarray(offset).toString('utf8');
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    return lines.slice(-LOG_TAIL_LINES).join('\n');
  } catch {
    return '';
  }
}

/**
 * The new release's gate: it keeps running, its /readyz answers 200 (private listener of
 * its slot) and a smoke request (GET / on its public port) answers 200. Returns why it
 * failed, or undefined.
 */
async function gate(plan: Plan, unit: ServiceUnit): Promise<string | undefined> {
  const { address, port, host } = unit.service;
  const deadline = Date.now() + READY_BOUND_MS;
  let last = 'no answer';
  for (;;) {
    const sup = readSupervisor(unit.paths);
    if (!sup || sup.lastExit) {
      const exit = sup?.lastExit;
      return `it exited at start (${exit ? (exit.signal ?? `code ${exit.code}`) : 'its supervisor is gone'})`;
    }
    try {
      const status = await httpStatus(plan, host, `http://${address}:${appAdminPort(plan, unit.service)}/readyz`);
      if (status === 200) break;
      last = `HTTP ${status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline)
      return `its /readyz did not answer 200 within ${READY_BOUND_MS / 1000} s (last answer: ${last})`;
    await sleep(100);
  }
  try {
    const status = await httpStatus(plan, host, `http://${address}:${port}/`);
    if (status !== 200) return `the smoke request GET / answered HTTP ${status}`;
  } catch (err) {
    return `the smoke request GET / got no answer (${(err as Error).message})`;
  }
  return undefined;
}

/** Until HAProxy has the server UP with a passed check at every LB. */
async function waitUp(plan: Plan, server: string): Promise<void> {
  await waitFor(
    `${server} UP in HAProxy`,
    async () => {
      const rows = (await backendStates(plan)).filter((s) => s.server === server);
      return rows.length > 0 && rows.every((s) => s.status.startsWith('UP') && s.check === 'L7OK');
    },
    UP_BOUND_MS,
    50,
  );
}

/**
 * The services of `kinds` whose config the new slots change (nginx's upstreams,
 * Prometheus' targets): rewritten, checked, reloaded gracefully. Waits until each
 * reloaded nginx has new workers, which use the new upstreams; the old ones only finish
 * what they had.
 */
async function switchProxies(
  plan: Plan,
  secrets: AppSecrets,
  kinds: readonly PlanService['kind'][] = ['nginx'],
): Promise<string[]> {
  const switched: string[] = [];
  for (const service of plan.services.filter((s) => kinds.includes(s.kind))) {
    const unit = unitOf(plan, service, secrets);
    if (appliedFingerprint(unit) === currentFingerprint(unit)) continue;
    const engine = enginePidOf(unit.paths);
    const before = new Set(engine ? processTree(engine) : []);
    await ensureService(plan, unit);
    if (service.kind === 'nginx' && engine) {
      await waitFor(
        `${service.id} reloaded`,
        async () => processTree(engine).some((pid) => !before.has(pid)),
        10_000,
        20,
      );
    }
    switched.push(service.id);
  }
  return switched;
}

/** One host onto `release`. Throws (the host left as it was) when the release fails its gate. */
async function rollHost(
  plan: Plan,
  app: PlanService,
  release: ReleaseInfo,
  secrets: AppSecrets,
  emit: Emit,
  /** The deploy's start (performance.now()). */
  deployStarted: number,
): Promise<HostDeploy | undefined> {
  const started = performance.now();
  const host = hostNamed(plan, app.host);
  const current = readHostRelease(host);
  if (current?.id === release.id) {
    emit({ kind: 'note', message: `${app.host} runs ${release.id} already` });
    return undefined;
  }
  const live = withRunningReleases(plan);
  const oldService = appServices(live).find((s) => s.host === app.host)!;
  const backend = backendOf(live, oldService);
  const state: HostReleaseState = {
    id: release.id,
    slot: otherSlot(current?.slot ?? 'a'),
    ...(current ? { previous: current.id } : {}),
  };
  const next = withReleases(live, { ...readReleaseStates(live), [app.host]: state });
  const newService = appServices(next).find((s) => s.host === app.host)!;
  const unit = unitOf(next, newService, secrets);

  if (backend) await step(emit, `${app.host}: drain in HAProxy`, () => drain(live, backend.name));
  // From here on, whatever happens, the server goes back into service.
  try {
    await startAndSwitch(next, {
      host,
      app: newService,
      old: oldService,
      unit,
      state,
      current,
      release,
      secrets,
      emit,
    });
  } finally {
    if (backend)
      await step(emit, `${app.host}: back in HAProxy`, async () => {
        await setServerState(live, backend.name, 'ready');
        await waitUp(live, backend.name);
        return { changed: true, detail: `${backend.name} UP` };
      });
  }
  return {
    host: app.host,
    ...(current ? { from: current.id } : {}),
    to: release.id,
    slot: state.slot,
    atMs: Math.round(started - deployStarted),
    ms: Math.round(performance.now() - started),
  };
}

/** Drains one web server at every LB and waits (bounded) until its requests finish. */
async function drain(plan: Plan, server: string): Promise<StepResult> {
  const others = (await backendStates(plan)).filter((s) => s.server !== server && s.status.startsWith('UP'));
  if (others.length === 0)
    throw new TandemError(
      'TANDEM_STATE',
      `${server} is the last server in service: refusing to take it out of service (no other web server is UP in HAProxy). Nothing was changed on it.`,
      'bring the other servers back first (`tandem status`), then deploy again',
    );
  const failed = await setServerState(plan, server, 'drain');
  if (failed.length > 0) {
    await setServerState(plan, server, 'ready');
    throw new TandemError('TANDEM_STATE', `cannot drain ${server} at ${failed.join(', ')}; nothing was changed`);
  }
  const deadline = Date.now() + DRAIN_BOUND_MS;
  let inFlight = await serverSessions(plan, server);
  while (inFlight > 0 && Date.now() < deadline) {
    await sleep(50);
    inFlight = await serverSessions(plan, server);
  }
  return {
    changed: true,
    detail: inFlight === 0 ? 'no request in flight' : `${inFlight} still in flight after ${DRAIN_BOUND_MS / 1000} s`,
  };
}

interface Switch {
  readonly host: PlanHost;
  /** The app service in the new slot, and in the old one. */
  readonly app: PlanService;
  readonly old: PlanService;
  readonly unit: ServiceUnit;
  readonly state: HostReleaseState;
  readonly current: HostReleaseState | undefined;
  readonly release: ReleaseInfo;
  readonly secrets: AppSecrets;
  readonly emit: Emit;
}

/**
 * Starts the release in its slot and gates it; then records it, switches the proxies and
 * stops the old process. A failed gate stops the new process and throws, the host as it was.
 */
async function startAndSwitch(next: Plan, s: Switch): Promise<void> {
  const { unit, emit, release, state } = s;
  const name = s.app.host;
  let failure: string | undefined;
  let offset = 0;
  await step(emit, `${name}: start ${release.id} in slot ${state.slot}`, async () => {
    // A process left in that slot (an interrupted deploy) is not the release.
    if (readSupervisor(unit.paths)) await stopSupervised(unit.paths);
    else reapOrphan(unit.paths);
    writeUnitFiles(unit);
    offset = fs.statSync(unit.paths.output, { throwIfNoEntry: false })?.size ?? 0;
    await startSupervised(unit.paths, unit.spec);
    failure = await gate(next, unit);
    if (failure) return { changed: false, detail: `failed its gate: ${failure}` };
    return { changed: true, detail: `ready on port ${s.app.port}, smoke request answered 200` };
  });
  if (failure) {
    const tail = logTail(unit.paths.output, offset);
    await stopSupervised(unit.paths);
    throw new TandemError(
      'TANDEM_DEPLOY_FAILED',
      `release ${release.id} failed its gate on ${name}: ${failure}. Rolled back: ${name} serves ${
        s.current?.id ?? 'the code it ran before'
      } as before, nginx and HAProxy unchanged; the deploy stopped there.${
        tail ? `\n  the release's log (${unit.paths.output}):\n    ${tail.split('\n').join('\n    ')}` : ''
      }`,
      'fix the release and deploy again (`tandem releases` shows what runs where)',
    );
  }
  await step(emit, `${name}: switch nginx to slot ${state.slot}`, async () => {
    // Rendered from every host's slot as recorded now: another host of the batch may
    // have switched meanwhile.
    const switched = await oneAtATime(async () => {
      writeHostRelease(s.host, state);
      recordApplied(unit);
      return switchProxies(withReleases(next, readReleaseStates(next)), s.secrets);
    });
    await stopSupervised(servicePaths(s.old));
    return { changed: true, detail: `reloaded ${switched.join(', ') || 'nothing'}; old process stopped` };
  });
}

/** The new release's migrations, once, on the primary, before any host switches. */
async function runMigrations(plan: Plan, release: ReleaseInfo, secrets: AppSecrets): Promise<string> {
  const first = appServices(plan)[0]!;
  const unit = unitOf(plan, first, secrets);
  writeUnitFiles(unit); // the migration reads the app's password file
  try {
    return await migrate(
      plan,
      first.host,
      appEnvironment(plan, first, unit.paths),
      path.join(stackReleasesDir(plan), release.id),
    );
  } catch (err) {
    throw new TandemError(
      'TANDEM_DEPLOY_FAILED',
      `the migrations of release ${release.id} failed; nothing was switched: ${(err as Error).message}`,
      'fix the migration (expand/contract: the old code must keep working with the new schema) and deploy again',
    );
  }
}

/** Adds the release's assets on every web host: pages of either release find theirs. */
function addAssets(plan: Plan, release: ReleaseInfo): void {
  const built = buildAssets(readAssetSources(path.join(stackReleasesDir(plan), release.id)));
  for (const host of webHosts(plan)) writeAssets(hostPaths(host).assets, built);
}

/** Deletes releases beyond app.keepReleases on each host and in the stack's folder; never a running or previous one. */
function prune(plan: Plan): string[] {
  const states = readReleaseStates(plan);
  const protect = Object.values(states).flatMap((s) => [s.id, s.previous]);
  const pruned: string[] = [];
  for (const app of appServices(plan)) {
    const host = hostNamed(plan, app.host);
    const state = states[app.host];
    pruned.push(
      ...pruneReleases(path.join(host.dir, 'releases'), plan.app.keepReleases, [state?.id, state?.previous]).map(
        (id) => `${app.host}:${id}`,
      ),
    );
  }
  pruneReleases(stackReleasesDir(plan), plan.app.keepReleases, protect);
  return pruned;
}

export async function deploy(plan: Plan, opts: DeployOptions = {}): Promise<DeployResult> {
  const emit = opts.emit ?? silent;
  const started = performance.now();
  const live = withRunningReleases(plan);
  if (opts.parallel && appServices(live).length <= 2)
    throw new TandemError(
      'TANDEM_USAGE',
      `--parallel needs more than two app servers (this stack has ${appServices(live).length}): with two, one must serve while the other is worked on`,
      'deploy without --parallel',
    );
  // First: a server out of service is the reason its app may not run either.
  await refuseWhileDown(live);
  refuseUnlessRunning(live);
  const { secrets } = loadOrCreateSecrets(plan.secretsFile);
  let release: ReleaseInfo | undefined;
  await step(emit, 'release', async () => {
    release = opts.release
      ? readRelease(plan, opts.release)
      : await buildRelease(plan, opts.code ?? plan.app.codeDir, () => {});
    for (const app of appServices(live)) copyToHost(live, hostNamed(live, app.host), release.id);
    addAssets(live, release);
    return {
      changed: !opts.release,
      detail: `${release.id} on ${appServices(live)
        .map((s) => s.host)
        .join(', ')}`,
    };
  });
  let migrations: string | undefined;
  if (!opts.release)
    await step(emit, 'migrations', async () => {
      migrations = await runMigrations(live, release!, secrets);
      return { changed: Number(/(\d+) applied/.exec(migrations)?.[1] ?? 0) > 0, detail: migrations };
    });
  const hosts: HostDeploy[] = [];
  try {
    for (const batch of rollBatches(rollOrder(live), opts.parallel === true)) {
      // A host of the batch that fails its gate stops the deploy once the others are done.
      const results = await Promise.allSettled(
        batch.map((app) => rollHost(live, app, release!, secrets, emit, started)),
      );
      for (const r of results) if (r.status === 'fulfilled' && r.value) hosts.push(r.value);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  } finally {
    // Prometheus scrapes each app where it runs now: once, after the servers (its reload
    // takes seconds, which need not keep a server out of service).
    const now = withRunningReleases(plan);
    if (now.services.some((s) => s.kind === 'prometheus'))
      await step(emit, 'prometheus targets', async () => {
        const switched = await switchProxies(now, secrets, ['prometheus']);
        return { changed: switched.length > 0, detail: switched.length > 0 ? 'reloaded' : 'unchanged' };
      });
  }
  const pruned = prune(live);
  return {
    release: release!.id,
    hosts,
    ...(migrations !== undefined ? { migrations } : {}),
    pruned,
    ms: Math.round(performance.now() - started),
  };
}

/** `tandem rollback`: the previous release, by the same rolling procedure. */
export async function rollback(plan: Plan, opts: { emit?: Emit; parallel?: boolean } = {}): Promise<DeployResult> {
  const states = readReleaseStates(plan);
  const first = rollOrder(plan)
    .map((s) => states[s.host])
    .find((s) => s !== undefined);
  if (!first?.previous)
    throw new TandemError(
      'TANDEM_STATE',
      first
        ? `release ${first.id} has no previous release to go back to`
        : 'nothing was deployed yet: there is no release to go back to',
      'see `tandem releases`',
    );
  return deploy(plan, {
    release: first.previous,
    ...(opts.emit ? { emit: opts.emit } : {}),
    ...(opts.parallel ? { parallel: true } : {}),
  });
}
