/** The app's schema migrations, run by the app's own code. */
import fs from 'node:fs';
import path from 'node:path';
import { hostOf } from '../../config/resolve.ts';
import type { Plan } from '../../config/types.ts';
import { inNamespace } from '../../hosts/netns.ts';
import { run } from '../../hosts/process.ts';
import { nodeCommand } from '../../prebuilt.mjs';
import { BUNDLED_MIGRATE } from '../../deploy/bundle.ts';

/**
 * The app's migrations, run once against the primary with the app's own environment,
 * from `codeDir` (a release runs the migrate.mjs bundled into it).
 */
export async function migrate(
  plan: Plan,
  appHost: string,
  appEnv: Record<string, string>,
  codeDir: string = plan.app.codeDir,
): Promise<string> {
  const bundled = path.join(codeDir, BUNDLED_MIGRATE);
  const migrateScript = path.join(codeDir, 'migrate.ts');
  if (!fs.existsSync(bundled) && !fs.existsSync(migrateScript)) return 'the code base has no migrate.ts';
  const command = fs.existsSync(bundled) ? [process.execPath, bundled] : nodeCommand(migrateScript);
  // From an app host: the database's grants (and firewall) admit app hosts.
  const argv = inNamespace(hostOf(plan, appHost), command);
  const { stdout } = await run(argv, {
    cwd: codeDir,
    env: appEnv,
    timeoutMs: 60_000,
  });
  return stdout.trim().split('\n').pop() ?? '';
}
