/**
 * Where each service keeps its files inside its directory (`<host dir>/<kind>`).
 * Renderers, engine builders and hosts/ all take paths from here, so they agree.
 */
import path from 'node:path';
import type { PlanService } from './types.ts';

export interface ServicePaths {
  readonly dir: string;
  /** The rendered main config file. */
  readonly config: string;
  /** The engine's own log (stdout/stderr of the process go to `output`). */
  readonly log: string;
  /** stdout + stderr of the supervised process. */
  readonly output: string;
  /** The supervisor writes the engine's pid here. */
  readonly pid: string;
  /** Supervisor state (pid of the supervisor, restarts, last exit). */
  readonly supervisor: string;
  /** Data directory (MariaDB) or scratch space (nginx temp paths). */
  readonly data: string;
  /** Unix socket: MariaDB client socket, HAProxy admin/stats socket. */
  readonly socket: string;
}

const CONFIG_NAME: Record<PlanService['kind'], string> = {
  haproxy: 'haproxy.cfg',
  nginx: 'nginx.conf',
  mariadb: 'my.cnf',
  app: 'app.env.json',
  keepalived: 'keepalived.conf',
  dnsmasq: 'dnsmasq.conf',
  etcd: 'etcd.yaml',
  sentinel: 'sentinel.json',
  prometheus: 'prometheus.yml',
  alertmanager: 'alertmanager.yml',
  'blackbox-exporter': 'blackbox.yml',
  // Its [client] section holds the monitor user's password (0600).
  'mysqld-exporter': 'my.cnf',
  // Configured by flags alone: the file records the command line, as app.env.json does.
  'node-exporter': 'command.json',
  'nginx-exporter': 'command.json',
  'alert-receiver': 'alert-receiver.json',
  'backup-source': 'backup-source.json',
  'backup-agent': 'backup-agent.json',
  // The binlog archiver's JSON config (issue 10); its password is in its own 0600 option file.
  'binlog-archiver': 'archiver.json',
};

export function servicePaths(service: Pick<PlanService, 'dir' | 'kind'>): ServicePaths {
  const d = service.dir;
  return {
    dir: d,
    config: path.join(d, CONFIG_NAME[service.kind]),
    log: path.join(d, `${service.kind}.log`),
    output: path.join(d, 'output.log'),
    pid: path.join(d, `${service.kind}.pid`),
    supervisor: path.join(d, 'supervisor.json'),
    data: path.join(d, 'data'),
    socket: path.join(d, service.kind === 'haproxy' ? 'admin.sock' : `${service.kind}.sock`),
  };
}

/**
 * Files that belong to a host rather than to one of its services: its firewall (netns),
 * and on a web host the code base's built static assets, which nginx serves itself.
 */
export function hostPaths(host: { readonly dir: string }): { readonly firewall: string; readonly assets: string } {
  return { firewall: path.join(host.dir, 'firewall.nft'), assets: path.join(host.dir, 'assets') };
}
