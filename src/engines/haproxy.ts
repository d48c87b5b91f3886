/**
 * HAProxy 2.6 in master-worker mode, in the foreground: `-W` (master-worker) and
 * `-db` (no daemon). The master re-executes itself on SIGUSR2 and hands the listening
 * sockets to the new worker (`expose-fd listeners` on the stats socket), so a reload
 * drops no connection.
 */
import type { ServicePaths } from '../config/paths.ts';
import type { Engine } from './types.ts';

const HAPROXY = '/usr/sbin/haproxy';

export const haproxyEngine: Engine = {
  name: 'haproxy',
  binary: HAPROXY,
  debianPackage: 'haproxy',
  binaries: [{ path: HAPROXY, debianPackage: 'haproxy' }],
  checkCommand: (paths: ServicePaths): string[] => [HAPROXY, '-c', '-f', paths.config],
  runCommand: (paths: ServicePaths): string[] => [HAPROXY, '-W', '-db', '-f', paths.config],
  reloadSignal: 'SIGUSR2',
  // Soft stop: stop listening, let sessions finish (bounded by `hard-stop-after` in the
  // config); the master exits when its workers have. SIGTERM would cut live requests.
  stopSignal: 'SIGUSR1',
  stopGraceMs: 35_000,
};
