/**
 * The code base's static assets on each web host (issue 11): built from `<codeDir>/public`
 * (app/assets.ts) into the host's assets folder, which nginx serves under /assets/
 * without asking the app. Each web host has its own copy, as real servers would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type BuiltAssets, buildAssets, MANIFEST_NAME, readAssetSources } from '../app/assets.ts';
import { hostPaths } from '../config/paths.ts';
import type { Plan, PlanHost } from '../config/types.ts';
import type { StepResult } from './events.ts';
import { runningCodeDir } from '../deploy/releases.ts';

/** Names of the files a manifest in `dir` points at (each with its gzip copy); none without one. */
function filesOfManifest(dir: string): string[] {
  let manifest: Record<string, string>;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_NAME), 'utf8')) as Record<string, string>;
  } catch {
    return [];
  }
  return Object.values(manifest).flatMap((url) => [path.basename(url), `${path.basename(url)}.gz`]);
}

/**
 * Writes `built` into `dir`: only files whose bytes differ, each through a temp file and
 * a rename (nginx never serves half a file), the manifest last. When anything changed,
 * the files of the previous manifest stay (a page rendered before the change still finds
 * its assets) and older ones go. Returns the names written and removed.
 */
export function writeAssets(dir: string, built: BuiltAssets): { written: string[]; removed: string[] } {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const previous = filesOfManifest(dir);
  const written: string[] = [];
  for (const file of built.files) {
    const target = path.join(dir, file.name);
    try {
      if (fs.readFileSync(target).equals(file.bytes)) continue;
    } catch {}
    const tmp = `${target}.tmp`;
    fs.writeFileSync(tmp, file.bytes, { mode: 0o644 });
    fs.renameSync(tmp, target);
    written.push(file.name);
  }
  if (written.length === 0) return { written, removed: [] };
  const keep = new Set([...built.files.map((f) => f.name), ...previous]);
  const removed = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !keep.has(e.name))
    .map((e) => e.name);
  for (const name of removed) fs.rmSync(path.join(dir, name), { force: true });
  return { written, removed };
}

/** The name of `up`'s step that builds `host`'s assets; nginx there starts after it. */
export const assetsStep = (host: string): string => `assets ${host}`;

/** The web hosts: those nginx runs on. */
export function webHosts(plan: Plan): PlanHost[] {
  return plan.hosts.filter((h) => plan.services.some((s) => s.host === h.name && s.kind === 'nginx'));
}

/**
 * `up`'s step for one web host: its assets folder holds the build of the running code's
 * `public/` (its release's, after `tandem deploy`). A deploy adds the new release's before
 * any server switches; the previous manifest's files stay.
 */
export function ensureAssets(plan: Plan, host: PlanHost, codeDir = runningCodeDir(plan, host.name)): StepResult {
  const built = buildAssets(readAssetSources(codeDir));
  const dir = hostPaths(host).assets;
  const { written, removed } = writeAssets(dir, built);
  const count = Object.keys(built.manifest).length;
  if (written.length === 0) return { changed: false, detail: `${count} asset(s), unchanged` };
  return {
    changed: true,
    detail: `${count} asset(s) built into ${path.relative(plan.stateDir, dir)} (${written.length} file(s) written${removed.length > 0 ? `, ${removed.length} old removed` : ''})`,
  };
}
