/** Loads `tandem.config.ts` (or another file), validates it and resolves the Plan. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve, stateDirOf } from '../config/resolve.ts';
import type { Hosting, Plan, StackConfig } from '../config/types.ts';
import { formatIssues, validateConfig } from '../config/validate.ts';
import { importBundled } from '../prebuilt.mjs';
import { ConfigError, TandemError } from '../errors.ts';
import { withRunningReleases } from './release-state.ts';
import { hostingFor } from './stack-record.ts';

export const BUNDLED_APP_DIR = fileURLToPath(new URL('../app/', import.meta.url)).replace(/\/$/, '');

/** netns (full fidelity) when root can create namespaces here; loopback otherwise. */
export function defaultHostingHere(): Hosting {
  return process.getuid?.() === 0 ? 'netns' : 'loopback';
}

export async function loadConfigFile(file: string): Promise<StackConfig> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) {
    throw new TandemError(
      'TANDEM_USAGE',
      `no config file at ${abs}`,
      'run tandem in the project folder, or pass --config <file>',
    );
  }
  // Bundled by esbuild, as ESM wherever it lives; else tsImport, which also loads it as
  // ESM TypeScript (a folder without a package.json of type module would otherwise treat
  // it as CommonJS), loaded only then: the tsx loader costs more than the bundling.
  const mod = ((await importBundled(abs)) ??
    (await (await import('tsx/esm/api')).tsImport(pathToFileURL(abs).href, import.meta.url))) as { default?: unknown };
  let config = mod.default;
  // Loaded as CommonJS (no `"type": "module"` nearby): the ESM default sits one level down.
  if (config && typeof config === 'object' && (config as { __esModule?: boolean }).__esModule) {
    config = (config as { default?: unknown }).default;
  }
  if (config === undefined) {
    throw new ConfigError(`${file} has no default export: write \`export default defineStack({...})\``);
  }
  return config as StackConfig;
}

/**
 * Validates and resolves. The Plan holds no secret: `up` loads them apart (hosts/secrets.ts).
 * `forUp`: the caller is about to change the stack (it may not change a running stack's hosting).
 */
export async function loadPlan(file: string, opts: { forUp?: boolean } = {}): Promise<Plan> {
  const loaded = await loadConfigFile(file);
  const projectDir = path.dirname(path.resolve(file));
  // A stack that exists is looked at on the hosting it runs on (stack.json), whoever runs tandem.
  const stateDirKnown =
    typeof loaded === 'object' && loaded !== null && ['string', 'undefined'].includes(typeof loaded.stateDir);
  const hosting =
    stateDirKnown && hostingFor(stateDirOf(loaded, projectDir), loaded.hosting, { changing: opts.forUp === true });
  const config = hosting ? { ...loaded, hosting } : loaded;
  const defaultHosting = defaultHostingHere();
  const issues = validateConfig(config, defaultHosting);
  if (issues.length > 0) {
    throw new ConfigError(`${path.basename(file)} has ${issues.length} problem(s):\n${formatIssues(issues)}`, issues);
  }
  // Where `tandem deploy` put each app host's release (its slot's ports and folder).
  return withRunningReleases(resolve(config, { projectDir, bundledAppDir: BUNDLED_APP_DIR, defaultHosting }));
}
