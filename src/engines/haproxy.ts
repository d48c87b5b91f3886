/**
 * HAProxy 2.6 in master-worker mode, in the foreground: `-W` (master-worker) and
 * `-db` (no daemon). The master re-executes itself on SIGUSR2 and hands the listening
 * sockets to the new worker (`expose-fd listeners` on the stats socket), so a reload
 * drops no connection.
 *
 * `-dMglobal`: HAProxy keeps the buffers its streams release in its shared pool instead
 * of handing them back to glibc's malloc (its default on glibc). With the 80 KiB buffers
 * (render/haproxy.ts: a 64 KiB header is answered 431 over HTTP/2 too), each free of a
 * buffer at the top of the heap let glibc shrink the heap (brk) and the next allocation
 * fault the pages back in: up to 1.5 page faults per request, doubling HAProxy's CPU per
 * request (BENCHMARKS.md, "Where the proxy tax went"). The price: memory stays at the
 * peak of buffers in use (HAProxy releases its pools on SIGQUIT or when memory runs short).
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
  runCommand: (paths: ServicePaths): string[] => [HAPROXY, '-W', '-db', '-dMglobal', '-f', paths.config],
  reloadSignal: 'SIGUSR2',
  // Soft stop: stop listening, let sessions finish (bounded by `hard-stop-after` in the
  // config); the master exits when its workers have. SIGTERM would cut live requests.
  stopSignal: 'SIGUSR1',
  stopGraceMs: 35_000,
};
