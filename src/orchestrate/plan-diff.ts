/** `plan`: render every file of every service into a folder and diff it against what runs. */
import fs from 'node:fs';
import path from 'node:path';
import type { Plan } from '../config/types.ts';
import { run } from '../hosts/process.ts';
import { hostPaths } from '../config/paths.ts';
import { renderNftables } from '../render/nftables.ts';
import { unitOf } from './services.ts';

export interface PlannedFile {
  readonly service: string;
  /** Where the running service reads it. */
  readonly live: string;
  /** Where `plan` wrote the new rendering. */
  readonly rendered: string;
  readonly state: 'new' | 'changed' | 'same';
  readonly diff: string;
}

export async function planFiles(plan: Plan, outDir: string): Promise<PlannedFile[]> {
  fs.rmSync(outDir, { recursive: true, force: true });
  const out: PlannedFile[] = [];
  const firewalls = plan.firewall.enabled
    ? plan.hosts.map((h) => ({
        id: `${h.name}/firewall`,
        files: [{ path: hostPaths(h).firewall, content: renderNftables(plan, h.name) }],
      }))
    : [];
  const units = [...plan.services.map((svc) => ({ id: svc.id, files: unitOf(plan, svc).files })), ...firewalls];
  for (const svc of units) {
    for (const file of svc.files as readonly { path: string; content: string; mode?: number }[]) {
      // Secret files are not copied out: their content is never shown.
      if (file.mode === 0o600) continue;
      const rendered = path.join(outDir, path.relative(plan.stateDir, file.path));
      fs.mkdirSync(path.dirname(rendered), { recursive: true });
      fs.writeFileSync(rendered, file.content);
      let state: PlannedFile['state'] = 'new';
      let diff = '';
      if (fs.existsSync(file.path)) {
        const same = fs.readFileSync(file.path, 'utf8') === file.content;
        state = same ? 'same' : 'changed';
        if (!same) diff = await unifiedDiff(file.path, rendered);
      }
      out.push({ service: svc.id, live: file.path, rendered, state, diff });
    }
  }
  return out;
}

async function unifiedDiff(a: string, b: string): Promise<string> {
  try {
    await run(['diff', '-u', a, b]);
    return '';
  } catch (err) {
    // diff exits 1 when the files differ; its output is the diff.
    const e = err as { stderr?: string };
    return (e.stderr ?? '').trim();
  }
}
