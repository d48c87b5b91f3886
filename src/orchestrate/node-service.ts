/** The supervised command of a service that is one of tandem's own Node entries (the sentinel, the alert receiver). */
import { fileURLToPath } from 'node:url';
import type { ServicePaths } from '../config/paths.ts';
import type { PlanService } from '../config/types.ts';
import type { SupervisedSpec } from '../hosts/supervise.ts';
import { nodeCommand } from '../prebuilt.mjs';

/** The checkout's root, with its trailing slash (as the sentinel has always run from). */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `entry` (absolute .ts) with the service's config file as its argument, in the host's namespace, from the project root. */
export function nodeServiceSpec(
  service: PlanService,
  entry: string,
  paths: ServicePaths,
  namespace: string | undefined,
): SupervisedSpec {
  return {
    id: service.id,
    namespace,
    argv: nodeCommand(entry, [paths.config]),
    cwd: ROOT,
    env: { NODE_ENV: 'production' },
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 5000,
  };
}
