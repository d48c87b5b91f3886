/**
 * dnsmasq 2.90 in the foreground (`--keep-in-foreground`), reading only the rendered
 * file (`--conf-file`: Debian's /etc/dnsmasq.conf and /etc/dnsmasq.d are not read).
 * It runs in the client namespace (`ip netns exec`).
 */
import type { ServicePaths } from '../config/paths.ts';
import type { Engine } from './types.ts';

const DNSMASQ = '/usr/sbin/dnsmasq';

export const dnsmasqEngine: Engine = {
  name: 'dnsmasq',
  binary: DNSMASQ,
  debianPackage: 'dnsmasq-base',
  binaries: [{ path: DNSMASQ, debianPackage: 'dnsmasq-base' }],
  // --test parses the file and exits; it binds nothing.
  checkCommand: (paths: ServicePaths): string[] => [DNSMASQ, '--test', `--conf-file=${paths.config}`],
  runCommand: (paths: ServicePaths): string[] => [DNSMASQ, '--keep-in-foreground', `--conf-file=${paths.config}`],
  // SIGHUP re-reads hosts files and clears the cache, never the config file: a changed
  // config needs a restart (a few milliseconds; the client retries a lost query).
  reloadSignal: null,
  stopSignal: 'SIGTERM',
  stopGraceMs: 5_000,
};
