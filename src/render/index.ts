/**
 * Every file a host needs, rendered from the Plan. Pure: `tandem plan` writes the
 * result to a folder and diffs it; hosts/ writes it into place.
 */

import { hostPaths, servicePaths } from '../config/paths.ts';
import { hostOf } from '../config/resolve.ts';
import type { Plan, PlanService, ServiceKind } from '../config/types.ts';
import { renderAlertmanager } from './alertmanager.ts';
import { renderBlackbox } from './blackbox.ts';
import { renderDnsmasq } from './dnsmasq.ts';
import { renderEtcd } from './etcd.ts';
import { readOnlyAclFile, renderHaproxy } from './haproxy.ts';
import { renderKeepalived } from './keepalived.ts';
import { renderMyCnf } from './mariadb.ts';
import { renderNftables } from './nftables.ts';
import { renderNginx } from './nginx.ts';
import { renderPrometheus } from './prometheus.ts';

export interface RenderedFile {
  /** Absolute path (from `servicePaths()`). */
  readonly path: string;
  readonly content: string;
}

const RENDERERS: Partial<Record<ServiceKind, (plan: Plan, hostName: string) => string>> = {
  haproxy: renderHaproxy,
  nginx: renderNginx,
  mariadb: renderMyCnf,
  keepalived: renderKeepalived,
  dnsmasq: (plan) => renderDnsmasq(plan),
  etcd: renderEtcd,
  prometheus: (plan) => renderPrometheus(plan),
  alertmanager: (plan) => renderAlertmanager(plan),
  'blackbox-exporter': (plan) => renderBlackbox(plan),
};

/**
 * The main config file of one service's engine; undefined for the app, whose own file
 * (app.env.json) belongs to orchestrate/, not to an engine renderer.
 */
export function renderServiceConfig(plan: Plan, service: PlanService): string | undefined {
  return RENDERERS[service.kind]?.(plan, service.host);
}

/**
 * The config file of every engine on `hostName` (the client included), in the Plan's
 * service order, then the host's firewall ruleset when the Plan has firewalls.
 */
export function renderHostFiles(plan: Plan, hostName: string): RenderedFile[] {
  const host = hostOf(plan, hostName);
  const files: RenderedFile[] = [];
  for (const service of plan.services) {
    if (service.host !== hostName) continue;
    const content = renderServiceConfig(plan, service);
    if (content !== undefined) files.push({ path: servicePaths(service).config, content });
    // The read-only switch's ACL file: HAProxy refuses a config whose pattern file is missing.
    if (service.kind === 'haproxy') files.push({ path: readOnlyAclFile(servicePaths(service)), content: '' });
  }
  if (plan.firewall.enabled) files.push({ path: hostPaths(host).firewall, content: renderNftables(plan, hostName) });
  return files;
}

export { ETCD_ELECTION_MS, ETCD_HEARTBEAT_MS, etcdClientUrls, etcdUrl, renderEtcd } from './etcd.ts';
export { dnsmasqPidFile, dnsmasqServiceFor, renderDnsmasq } from './dnsmasq.ts';
export {
  HAPROXY_BACKEND,
  HAPROXY_METRICS_PORT,
  HSTS,
  haproxyPublicAddresses,
  haproxyServiceFor,
  READINESS_PATH,
  renderHaproxy,
} from './haproxy.ts';
export { keepalivedServiceFor, renderKeepalived, VRRP_INSTANCE } from './keepalived.ts';
export { mariadbPidFile, renderMyCnf } from './mariadb.ts';
export { type FirewallRule, firewallRules, NFT_FAMILY, NFT_TABLE, renderNftables } from './nftables.ts';
export { NGINX_STATUS_PATH, NGINX_TEMP_DIRS, nginxPidFile, renderNginx } from './nginx.ts';
