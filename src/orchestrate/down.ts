/** `down` stops every service (data kept); `destroy` also removes the state folder. */
import fs from 'node:fs';
import { servicePaths } from '../config/paths.ts';
import type { Plan } from '../config/types.ts';
import { teardownNetwork } from '../hosts/netns.ts';
import { readSupervisor, reapOrphan, stopSupervised } from '../hosts/supervise.ts';
import { type Emit, silent, step } from './events.ts';
import { startOrder } from './order.ts';
import { otherStackNamed, recordStackDown, releaseStackName } from './stack-record.ts';

export async function down(plan: Plan, opts: { emit?: Emit } = {}): Promise<{ stopped: number }> {
  const emit = opts.emit ?? silent;
  let stopped = 0;
  for (const service of startOrder(plan.services).reverse()) {
    const paths = servicePaths(service);
    if (!readSupervisor(paths) && !fs.existsSync(paths.pid)) continue;
    await step(emit, `stop ${service.id}`, async () => {
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
