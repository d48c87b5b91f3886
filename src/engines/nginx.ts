/**
 * nginx 1.22, in the foreground (`daemon off;` is in the rendered config, so no `-g`).
 * `-p` makes the service directory the prefix, so nothing falls back to Debian's
 * /var/lib/nginx or /run.
 */
import type { ServicePaths } from '../config/paths.ts';
import type { Engine } from './types.ts';

const NGINX = '/usr/sbin/nginx';

export interface NginxEngine extends Engine {
  /** nginx reopens its log files on this signal. */
  readonly reopenLogsSignal: NodeJS.Signals;
}

export const nginxEngine: NginxEngine = {
  name: 'nginx',
  binary: NGINX,
  debianPackage: 'nginx',
  binaries: [{ path: NGINX, debianPackage: 'nginx' }],
  // -t parses the config, opens the error log and creates the temp paths (inside the
  // data directory, which must exist); it binds nothing.
  checkCommand: (paths: ServicePaths): string[] => [NGINX, '-t', '-c', paths.config, '-p', paths.dir],
  runCommand: (paths: ServicePaths): string[] => [NGINX, '-c', paths.config, '-p', paths.dir],
  reloadSignal: 'SIGHUP',
  // Graceful: workers finish their requests (bounded by `worker_shutdown_timeout`).
  // Note that SIGKILL of the master alone leaves its workers serving: kill the group.
  stopSignal: 'SIGQUIT',
  reopenLogsSignal: 'SIGUSR1',
  stopGraceMs: 35_000,
};
