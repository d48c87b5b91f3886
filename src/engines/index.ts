import { dnsmasqEngine } from './dnsmasq.ts';
import { etcdEngine } from './etcd.ts';
import { haproxyEngine } from './haproxy.ts';
import { keepalivedEngine } from './keepalived.ts';
import { mariadbEngine } from './mariadb.ts';
import { nftablesEngine } from './nftables.ts';
import { nginxEngine } from './nginx.ts';
import { tlsTool } from './tls.ts';
import type { Engine, ListeningEngine, Tool } from './types.ts';
import { blackboxExporterEngine, mysqldExporterEngine, nginxExporterEngine, nodeExporterEngine } from './exporters.ts';
import { alertmanagerEngine, prometheusEngine } from './prometheus.ts';

export { type EtcdEngine, type EtcdMemberTls, etcdMemberTls } from './etcd.ts';
export type { KeepalivedEngine } from './keepalived.ts';
export type { MariadbEngine } from './mariadb.ts';
export type { NftablesTool } from './nftables.ts';
export type { NginxEngine } from './nginx.ts';
export type { TlsTool } from './tls.ts';
export {
  CA_DAYS,
  type CertFiles,
  renderEtcdExtensions,
  renderSiteExtensions,
  SITE_DAYS,
  siteCsrPath,
  siteExtensionsPath,
} from './tls.ts';
export type { Engine, EngineBinary, ListeningEngine, Tool } from './types.ts';
export {
  dnsmasqEngine,
  etcdEngine,
  haproxyEngine,
  keepalivedEngine,
  mariadbEngine,
  nftablesEngine,
  nginxEngine,
  tlsTool,
};

/** The engine behind each service kind that runs a third-party program (the app is tandem's own). */
export const engines: Readonly<Record<'haproxy' | 'nginx' | 'mariadb' | 'keepalived' | 'dnsmasq' | 'etcd', Engine>> = {
  haproxy: haproxyEngine,
  nginx: nginxEngine,
  mariadb: mariadbEngine,
  keepalived: keepalivedEngine,
  dnsmasq: dnsmasqEngine,
  etcd: etcdEngine,
};

/** The monitor's engines, which Go flags configure (issue 9); orchestrate/monitor.ts runs them. */
export const monitorEngines: Readonly<
  Record<
    'prometheus' | 'alertmanager' | 'blackbox-exporter' | 'node-exporter' | 'mysqld-exporter' | 'nginx-exporter',
    Omit<ListeningEngine, 'runCommand'>
  >
> = {
  prometheus: prometheusEngine,
  alertmanager: alertmanagerEngine,
  'blackbox-exporter': blackboxExporterEngine,
  'node-exporter': nodeExporterEngine,
  'mysqld-exporter': mysqldExporterEngine,
  'nginx-exporter': nginxExporterEngine,
};

/** Programs tandem runs to completion rather than supervises (for `tandem doctor`). */
export const tools: Readonly<Record<'nftables' | 'openssl', Tool>> = {
  nftables: nftablesEngine,
  openssl: tlsTool,
};
