/** The app's schema migrations, run by the app's own code. */
import fs from 'node:fs';
import path from 'node:path';
import { hostOf } from '../../config/resolve.ts';
import type { Plan } from '../../config/types.ts';
import { inNamespace } from '../../hosts/netns.ts';
import { run } from '../../hosts/process.ts';
import { nodeCommand } from '../../prebuilt.mjs';

/** The app's migrations, run once against the primary with the app's own environment. */
export async function migrate(plan: Plan, appHost: string, appEnv: Record<string, string>): Promise<string> {
  const migrateScript = path.join(plan.app.codeDir, 'migrate.ts');
  if (!fs.existsSync(migrateScript)) return 'the code base has no migrate.ts';
  // From an app host: the database's grants (and firewall) admit app hosts.
  const argv = inNamespace(hostOf(plan, appHost), nodeCommand(migrateScript));
  const { stdout } = await run(argv, {
    cwd: plan.app.codeDir,
    env: appEnv,
    timeoutMs: 60_000,
  });
  return stdout.trim().split('\n').pop() ?? '';
}
