/**
 * Every file a host needs, rendered from the Plan. Pure: `tandem plan` writes the
 * result to a folder and diffs it; hosts/ writes it into place.
 */

import { servicePaths } from '../config/paths.ts';
import { hostOf } from '../config/resolve.ts';
import type { Plan, ServiceKind } from '../config/types.ts';
import { renderHaproxy } from './haproxy.ts';
import { renderMyCnf } from './mariadb.ts';
import { renderNginx } from './nginx.ts';

export interface RenderedFile {
  /** Absolute path (from `servicePaths()`). */
  readonly path: string;
  readonly content: string;
}

const RENDERERS: Partial<Record<ServiceKind, (plan: Plan, hostName: string) => string>> = {
  haproxy: renderHaproxy,
  nginx: renderNginx,
  mariadb: renderMyCnf,
};

/** The config file of every engine on `hostName`, in the Plan's service order. */
export function renderHostFiles(plan: Plan, hostName: string): RenderedFile[] {
  hostOf(plan, hostName);
  const files: RenderedFile[] = [];
  for (const service of plan.services) {
    if (service.host !== hostName) continue;
    // The app's own file (app.env.json) belongs to app/, not to an engine renderer.
    const render = RENDERERS[service.kind];
    if (render) files.push({ path: servicePaths(service).config, content: render(plan, hostName) });
  }
  return files;
}

export { HAPROXY_BACKEND, HAPROXY_METRICS_PORT, haproxyServiceFor, READINESS_PATH, renderHaproxy } from './haproxy.ts';
export { mariadbPidFile, renderMyCnf } from './mariadb.ts';
export { NGINX_STATUS_PATH, NGINX_TEMP_DIRS, nginxPidFile, renderNginx } from './nginx.ts';
