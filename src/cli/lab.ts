/** `tandem lab up|down`: the SSH hosts of a `hosting: 'ssh'` stack, made on this machine (issue 12). */
import { labDown, labUp } from '../hosts/lab.ts';
import { loadPlan } from '../orchestrate/config-loader.ts';
import { withStackLock } from '../orchestrate/lock.ts';
import type { Args } from './args.ts';

export async function runLab(
  args: Args,
  lock: { wait: boolean; log: (m: string) => void },
  out: (text: string) => void,
): Promise<number> {
  const plan = await loadPlan(args.config);
  if (args.rest[0] === 'up') {
    const result = await withStackLock(plan, lock, () => labUp(plan));
    if (args.json) out(JSON.stringify(result));
    else {
      out(result.started === 0 ? 'tandem: the lab was already up.' : `tandem: started ${result.started} lab host(s).`);
      for (const h of result.hosts) out(`  ${h.name.padEnd(12)} root@${h.address}${h.port === 22 ? '' : `:${h.port}`}`);
      out(
        `try:  ssh -i ${result.identityFile} -o UserKnownHostsFile=${result.knownHostsFile} root@${result.hosts[0]?.address}`,
      );
    }
    return 0;
  }
  const result = await withStackLock(plan, lock, () => labDown(plan));
  if (args.json) out(JSON.stringify(result));
  else
    out(
      result.stopped === 0 && !result.networkRemoved
        ? 'tandem: no lab was up.'
        : `tandem: the lab is down (${result.stopped} sshd stopped${result.strays ? `, ${result.strays} other process(es) killed` : ''}).`,
    );
  return 0;
}
