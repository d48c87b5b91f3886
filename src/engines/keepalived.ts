/**
 * keepalived 2.2, VRRP only (`-P`: no health-checker or BFD child), in the foreground
 * (`-n`), logging to the console (`-l -D`) and not to syslog (`-G`; there is none).
 *
 * Several keepalived run on one machine, one per LB namespace, sharing the filesystem
 * and the PID space: each gets its own pid files (`-p`, `-r`) in its service folder.
 * keepalived refuses to start ("daemon is already running") while its pid file names a
 * live process, so a stale one must be removed once the old process is known dead.
 *
 * It must be started in the root namespace with the LB's namespace as argument
 * (`--namespace`): keepalived moves itself there after opening the kernel's proc
 * connector, which `vrrp_track_process` needs and which exists in the initial network
 * namespace only (see render/keepalived.ts). keepalived never creates a missing
 * namespace; it exits ("Unable to set network namespace").
 *
 * The check runs without a namespace: with one (`-s` or `net_namespace`), keepalived
 * 2.2.7's `--config-test` reports nothing and exits 0 even on a broken file.
 */
import path from 'node:path';
import type { ServicePaths } from '../config/paths.ts';
import type { Engine } from './types.ts';

const KEEPALIVED = '/usr/sbin/keepalived';

export interface KeepalivedEngine extends Engine {
  /** keepalived's own pid files (not `paths.pid`: the supervisor writes that one). */
  pidFiles(paths: ServicePaths): { readonly parent: string; readonly vrrp: string };
}

const pidFiles = (paths: ServicePaths) => ({
  parent: path.join(paths.dir, 'keepalived.parent.pid'),
  vrrp: path.join(paths.dir, 'keepalived.vrrp.pid'),
});

export const keepalivedEngine: KeepalivedEngine = {
  name: 'keepalived',
  binary: KEEPALIVED,
  debianPackage: 'keepalived',
  binaries: [{ path: KEEPALIVED, debianPackage: 'keepalived' }],
  startsInRootNamespace: true,
  // -t parses the file and exits non-zero on any error; it needs neither the
  // namespace nor the interface to exist.
  checkCommand: (paths: ServicePaths): string[] => [KEEPALIVED, '--config-test', '--use-file', paths.config],
  runCommand: (paths: ServicePaths, namespace?: string): string[] => [
    KEEPALIVED,
    ...(namespace ? [`--namespace=${namespace}`] : []),
    '--dont-fork',
    '--log-console',
    '--log-detail',
    '--no-syslog',
    '--vrrp',
    '--use-file',
    paths.config,
    '--pid',
    pidFiles(paths).parent,
    '--vrrp_pid',
    pidFiles(paths).vrrp,
  ],
  pidFiles,
  reloadSignal: 'SIGHUP',
  // SIGTERM: the master sends a priority-0 advert and the backup takes over at once.
  // Killing the parent alone also hands over (its VRRP child exits with it).
  stopSignal: 'SIGTERM',
  // keepalived waits up to 5 s (child_wait_time) for its child.
  stopGraceMs: 8_000,
};
