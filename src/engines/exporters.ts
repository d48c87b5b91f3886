/**
 * The exporters Prometheus scrapes (Debian 12's packages, which name their binaries
 * `prometheus-<name>`), each in the foreground on its host's own address. They differ
 * from upstream's documentation in ways that matter here:
 * - node_exporter 1.5: Debian enables the systemd collector, which fails every scrape
 *   without systemd (off here); the textfile directory defaults to the shared
 *   /var/lib/prometheus/node-exporter, so each host gets its own.
 * - mysqld_exporter 0.14: credentials from `--config.my-cnf` ([client] user, password,
 *   socket), not `--mysqld.username` or MYSQLD_EXPORTER_PASSWORD (0.15); the password
 *   stays out of argv and the environment. It refuses a [client] without a password (or
 *   ssl-key), so socket authentication alone will not do.
 * - nginx-prometheus-exporter 0.11: single-dash flags; it exits at start when the
 *   stub_status page does not answer, unless told to retry.
 * - blackbox_exporter 0.23: `--config.check` validates the modules without starting.
 * None of them re-reads anything but blackbox on SIGHUP.
 */
import path from 'node:path';
import type { ServicePaths } from '../config/paths.ts';
import type { ListeningEngine } from './types.ts';

const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';
const MYSQLD_EXPORTER = '/usr/bin/prometheus-mysqld-exporter';
const NGINX_EXPORTER = '/usr/bin/prometheus-nginx-exporter';
const BLACKBOX_EXPORTER = '/usr/bin/prometheus-blackbox-exporter';
const TEST = '/usr/bin/test';

/** The node exporter's textfile directory on a host: `*.prom` files there become metrics (the VRRP state). */
export function textfileDir(paths: Pick<ServicePaths, 'dir'>): string {
  return path.join(paths.dir, 'textfile');
}

const exporter = {
  reloadSignal: null,
  stopSignal: 'SIGTERM',
  stopGraceMs: 5_000,
  // The landing page: /metrics runs every collector (the mysqld exporter's asks MariaDB),
  // which overruns a 1 s readiness probe on a busy machine.
  readyPath: '/',
} as const;

export const nodeExporterEngine: ListeningEngine = {
  ...exporter,
  name: 'node-exporter',
  binary: NODE_EXPORTER,
  debianPackage: 'prometheus-node-exporter',
  binaries: [{ path: NODE_EXPORTER, debianPackage: 'prometheus-node-exporter' }],
  // No config file and no check mode: what it needs is its textfile directory.
  checkCommand: (paths) => [TEST, '-d', textfileDir(paths)],
  runCommand: (paths, listen) => [
    NODE_EXPORTER,
    `--web.listen-address=${listen}`,
    `--collector.textfile.directory=${textfileDir(paths)}`,
    '--no-collector.systemd',
  ],
};

export const mysqldExporterEngine: ListeningEngine = {
  ...exporter,
  name: 'mysqld-exporter',
  binary: MYSQLD_EXPORTER,
  debianPackage: 'prometheus-mysqld-exporter',
  binaries: [{ path: MYSQLD_EXPORTER, debianPackage: 'prometheus-mysqld-exporter' }],
  // Its my.cnf (0600) holds the monitor user's password: it must exist and be non-empty.
  checkCommand: (paths) => [TEST, '-s', paths.config],
  runCommand: (paths, listen) => [
    MYSQLD_EXPORTER,
    `--config.my-cnf=${paths.config}`,
    `--web.listen-address=${listen}`,
    // The defaults minus query_response_time, a MariaDB plugin tandem does not load.
    '--no-collect.info_schema.query_response_time',
  ],
};

/** The nginx exporter also needs the URL of nginx's stub_status page on its host. */
export interface NginxExporterEngine extends Omit<ListeningEngine, 'runCommand'> {
  runCommand(paths: ServicePaths, listen: string, statusUrl: string): string[];
}

export const nginxExporterEngine: NginxExporterEngine = {
  ...exporter,
  name: 'nginx-exporter',
  binary: NGINX_EXPORTER,
  debianPackage: 'prometheus-nginx-exporter',
  binaries: [{ path: NGINX_EXPORTER, debianPackage: 'prometheus-nginx-exporter' }],
  // No config file and no check mode: it only proves the binary runs.
  checkCommand: () => [NGINX_EXPORTER, '-version'],
  runCommand: (_paths, listen, statusUrl) => [
    NGINX_EXPORTER,
    `-web.listen-address=${listen}`,
    `-nginx.scrape-uri=${statusUrl}`,
    // nginx may still be starting: retry for ~10 s instead of exiting at once.
    '-nginx.retries=10',
    '-nginx.retry-interval=1s',
  ],
};

export const blackboxExporterEngine: ListeningEngine = {
  ...exporter,
  name: 'blackbox-exporter',
  binary: BLACKBOX_EXPORTER,
  debianPackage: 'prometheus-blackbox-exporter',
  binaries: [{ path: BLACKBOX_EXPORTER, debianPackage: 'prometheus-blackbox-exporter' }],
  checkCommand: (paths) => [BLACKBOX_EXPORTER, `--config.file=${paths.config}`, '--config.check'],
  runCommand: (paths, listen) => [BLACKBOX_EXPORTER, `--config.file=${paths.config}`, `--web.listen-address=${listen}`],
  readyPath: '/-/healthy',
  reloadSignal: 'SIGHUP',
};
