/** netns: one default-drop nftables ruleset per host, derived from the Plan. */
import fs from 'node:fs';
import { hostPaths } from '../config/paths.ts';
import type { Plan, PlanHost } from '../config/types.ts';
import { nftablesEngine } from '../engines/nftables.ts';
import { inNamespace, probeInNamespace } from '../hosts/netns.ts';
import { run } from '../hosts/process.ts';
import { renderNftables } from '../render/nftables.ts';

/**
 * Checks and applies the host's ruleset inside its namespace. True when it changed.
 * The file records what is applied, so it is written only once the apply succeeded:
 * after a failed apply the next `up` tries again.
 */
export async function applyFirewall(plan: Plan, host: PlanHost): Promise<boolean> {
  const file = hostPaths(host).firewall;
  const content = renderNftables(plan, host.name);
  const loaded = await run(probeInNamespace(host, nftablesEngine.listCommand()))
    .then(() => true)
    .catch(() => false);
  if (loaded && fs.existsSync(file) && fs.readFileSync(file, 'utf8') === content) return false;
  fs.mkdirSync(host.dir, { recursive: true });
  const next = `${file}.next`;
  fs.writeFileSync(next, content);
  await run(inNamespace(host, nftablesEngine.checkCommand(next)));
  await run(inNamespace(host, nftablesEngine.applyCommand(next)));
  fs.renameSync(next, file);
  return true;
}
