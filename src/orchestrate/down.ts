/** `down` stops every service (data kept); `destroy` also removes the state folder. */
import fs from 'node:fs';
import path from 'node:path';
import { type ServicePaths, servicePaths } from '../config/paths.ts';
import type { Plan, PlanService, ServiceKind } from '../config/types.ts';
import { teardownNetwork } from '../hosts/netns.ts';
import { readSupervisor, reapOrphan, stopSupervised } from '../hosts/supervise.ts';
import { type Emit, silent, step, type StepResult } from './events.ts';
import { runSteps, startOrder, type Step } from './order.ts';
import { otherStackNamed, recordStackDown, releaseStackName } from './stack-record.ts';

/**
 * Services the state folder records (`hosts/<host>/<kind>/supervisor.json`) that the Plan
 * does not name: started under an earlier config (failover turned off leaves etcd and
 * the sentinels behind). `down` stops them too, by their recorded PIDs.
 */
export function strayServices(stateDir: string, planned: readonly string[]): { id: string; paths: ServicePaths }[] {
  const hostsDir = path.join(stateDir, 'hosts');
  const known = new Set(planned);
  const dirs = (d: string) =>
    fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()) : [];
  return dirs(hostsDir).flatMap((host) =>
    dirs(path.join(hostsDir, host.name))
      .map((kind) => ({ id: `${host.name}/${kind.name}`, dir: path.join(hostsDir, host.name, kind.name), kind }))
      .filter((s) => !known.has(s.dir) && fs.existsSync(path.join(s.dir, 'supervisor.json')))
      .flatMap((s) => {
        try {
          return [{ id: s.id, paths: servicePaths({ dir: s.dir, kind: s.kind.name as ServiceKind }) }];
        } catch {
          return []; // a kind this build does not know: its paths cannot be named
        }
      }),
  );
}

/**
 * What each running planned service stops after: every running service that starts after
 * it, directly or through services that are not running (pure). A service stops only
 * once everything depending on it has stopped; services that do not depend on each
 * other (the two LBs' keepalived, each host's exporters) stop side by side.
 */
export function stopAfter(
  services: readonly Pick<PlanService, 'id' | 'after'>[],
  running: ReadonlySet<string>,
): Map<string, string[]> {
  const dependents = new Map<string, string[]>(services.map((s) => [s.id, []]));
  for (const s of services) for (const dep of s.after) dependents.get(dep)?.push(s.id);
  const closure = (id: string, seen: Set<string>): Set<string> => {
    for (const d of dependents.get(id) ?? []) if (!seen.has(d)) closure(d, seen.add(d));
    return seen;
  };
  return new Map(
    services
      .filter((s) => running.has(s.id))
      .map((s) => [s.id, [...closure(s.id, new Set())].filter((d) => running.has(d))]),
  );
}

export async function down(plan: Plan, opts: { emit?: Emit } = {}): Promise<{ stopped: number }> {
  const emit = opts.emit ?? silent;
  let stopped = 0;
  const isRunning = (paths: ServicePaths) => readSupervisor(paths) !== null || fs.existsSync(paths.pid);
  const stop = (paths: ServicePaths) => async (): Promise<StepResult> => {
    const did = await stopSupervised(paths);
    const orphan = reapOrphan(paths);
    if (did || orphan) stopped++;
    return {
      changed: did || orphan !== undefined,
      detail: did ? 'stopped' : orphan ? `killed orphan pid ${orphan}` : 'was not running',
    };
  };
  const stray = strayServices(
    plan.stateDir,
    plan.services.map((s) => s.dir),
  ).filter((s) => isRunning(s.paths));
  // Services of an earlier config first, one at a time, as they come. Named apart from
  // the planned ones: a planned service may have a stray's id in another folder (an app
  // a deploy moved to its other slot keeps its id), and one step would hide the other.
  const strayStep = (s: (typeof stray)[number]) => `stop ${s.id} (not in the plan)`;
  const steps: Step[] = stray.map((s, i) => ({
    name: strayStep(s),
    after: i === 0 ? [] : [strayStep(stray[i - 1]!)],
    run: stop(s.paths),
  }));
  const strays = steps.map((s) => s.name);
  const paths = new Map(plan.services.map((s) => [s.id, servicePaths(s)]));
  const running = new Set(plan.services.filter((s) => isRunning(paths.get(s.id)!)).map((s) => s.id));
  const stopsAfter = stopAfter(plan.services, running);
  // Listed in reverse start order; each stops as soon as its dependents have stopped.
  // etcd's members one at a time, as before: a leader stopping hands its leadership to a
  // peer, and waits out its timeout when every peer is stopping too.
  let previousMember: string | undefined;
  for (const service of startOrder(plan.services).reverse()) {
    const after = stopsAfter.get(service.id);
    if (!after) continue;
    const name = `stop ${service.id}`;
    const member = service.kind === 'etcd' ? previousMember : undefined;
    steps.push({
      name,
      after: [...strays, ...after.map((id) => `stop ${id}`), ...(member ? [member] : [])],
      run: stop(paths.get(service.id)!),
    });
    if (service.kind === 'etcd') previousMember = name;
  }
  await runSteps(emit, steps);
  // The namespaces and links of another stack with this name are not ours to remove.
  if (plan.hosting === 'netns' && !otherStackNamed(plan)) {
    await step(emit, 'remove namespaces, links and bridge', () => teardownNetwork(plan));
  }
  recordStackDown(plan);
  return { stopped };
}

export async function destroy(plan: Plan, opts: { emit?: Emit } = {}): Promise<void> {
  await down(plan, opts);
  await step(opts.emit ?? silent, `remove ${plan.stateDir}`, async () => {
    const existed = fs.existsSync(plan.stateDir);
    fs.rmSync(plan.stateDir, { recursive: true, force: true });
    releaseStackName(plan);
    return existed;
  });
}
