/**
 * The log files each service writes: its supervised output (stdout and stderr, where
 * HAProxy's request log and the app's request lines go) and the files the engine writes
 * itself. The supervisor rotates them (hosts/supervisor.mjs); `tandem logs` reads them.
 */
import { servicePaths } from '../config/paths.ts';
import type { PlanService } from '../config/types.ts';
import { nginxEngine } from '../engines/nginx.ts';
import type { EngineLogFile } from '../hosts/supervise.ts';
import { nginxAccessLog } from '../render/nginx.ts';

/** Files the engine of `service` writes itself (not its output), and how each is reopened. */
export function engineLogFiles(service: Pick<PlanService, 'dir' | 'kind'>): EngineLogFile[] {
  const paths = servicePaths(service);
  switch (service.kind) {
    case 'nginx': {
      const reopenSignal = nginxEngine.reopenLogsSignal;
      return [
        { path: paths.log, reopenSignal },
        { path: nginxAccessLog(paths.dir), reopenSignal },
      ];
    }
    // MariaDB's error log and dnsmasq's log-facility file are opened for appending:
    // copied and truncated in place.
    case 'mariadb':
    case 'dnsmasq':
      return [{ path: paths.log }];
    default:
      return [];
  }
}

/** Every log file of `service`, its output first. */
export function serviceLogFiles(service: Pick<PlanService, 'dir' | 'kind'>): string[] {
  return [servicePaths(service).output, ...engineLogFiles(service).map((f) => f.path)];
}
