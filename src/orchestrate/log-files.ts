/**
 * The log files each service writes: its supervised output (stdout and stderr, where
 * HAProxy's request log and the app's request lines go) and the files the engine writes
 * itself. The supervisor rotates them (hosts/supervisor.mjs); `tandem logs` reads them.
 */
import { servicePaths } from '../config/paths.ts';
import type { PlanService } from '../config/types.ts';
import { nginxAccessLog } from '../render/nginx.ts';

/**
 * Files the engine of `service` writes itself (not its output). Each engine opens them
 * for appending, so the supervisor copies and truncates them in place. Not nginx's
 * rename and SIGUSR1: its workers reopen the files themselves, and chose that when they
 * ran as `nobody`, who cannot reach a state folder only root may enter.
 */
export function engineLogFiles(service: Pick<PlanService, 'dir' | 'kind'>): string[] {
  const paths = servicePaths(service);
  switch (service.kind) {
    case 'nginx':
      return [paths.log, nginxAccessLog(paths.dir)];
    case 'mariadb':
    case 'dnsmasq':
      return [paths.log];
    default:
      return [];
  }
}

/** Every log file of `service`, its output first. */
export function serviceLogFiles(service: Pick<PlanService, 'dir' | 'kind'>): string[] {
  return [servicePaths(service).output, ...engineLogFiles(service)];
}

/**
 * HAProxy writes its request log to stdout after setting O_NONBLOCK on it with F_SETFL,
 * which clears O_APPEND: truncated in place, its output would turn into a sparse file.
 * Its supervisor writes the output file for it (supervisor.mjs, `pipeOutput`).
 */
export function outputThroughSupervisor(service: Pick<PlanService, 'kind'>): boolean {
  return service.kind === 'haproxy';
}
