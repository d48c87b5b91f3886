/** `down` stops every service (data kept); `destroy` also removes the state folder. */
import fs from 'node:fs';
import path from 'node:path';
import { type ServicePaths, servicePaths } from '../config/paths.ts';
import type { Plan, ServiceKind } from '../config/types.ts';
import { teardownNetwork } from '../hosts/netns.ts';
import { readSupervisor, reapOrphan, stopSupervised } from '../hosts/supervise.ts';
import { type Emit, silent, step } from './events.ts';
import { startOrder } from './order.ts';
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

export async function down(plan: Plan, opts: { emit?: Emit } = {}): Promise<{ stopped: number }> {
  const emit = opts.emit ?? silent;
  let stopped = 0;
  const planned = startOrder(plan.services)
    .reverse()
    .map((service) => ({ id: service.id, paths: servicePaths(service) }));
  const stray = strayServices(
    plan.stateDir,
    plan.services.map((s) => s.dir),
  );
  for (const { id, paths } of [...stray, ...planned]) {
    if (!readSupervisor(paths) && !fs.existsSync(paths.pid)) continue;
    await step(emit, `stop ${id}`, async () => {
      const did = await stopSupervised(paths);
      const orphan = reapOrphan(paths);
      if (did || orphan) stopped++;
      return {
        changed: did || orphan !== undefined,
        detail: did ? 'stopped' : orphan ? `killed orphan pid ${orphan}` : 'was not running',
      };
    });
  }
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
