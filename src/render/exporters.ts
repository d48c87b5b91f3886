/**
 * The exporters' own files: the mysqld exporter's `my.cnf` (the monitor user's password
 * comes as its own argument, never from the Plan), the keepalived notify script that
 * writes each LB's VRRP state for node_exporter's textfile collector, and the host's
 * roles as a metric in that same folder.
 */
import { servicePaths } from '../config/paths.ts';
import type { Plan } from '../config/types.ts';
import { textfileDir } from '../engines/exporters.ts';
import { VRRP_METRIC, VRRP_STANDBY_METRIC } from './alert-rules.ts';
import { header, serviceOn } from './service.ts';

/** The file the notify script writes (node_exporter reads `*.prom` only, so the temp file is skipped). */
export const VRRP_TEXTFILE = 'vrrp.prom';

/** node_exporter's textfile folder on `hostName` (its service folder's `textfile/`). */
export function textfileDirOn(plan: Plan, hostName: string): string {
  return textfileDir(servicePaths(serviceOn(plan, hostName, 'node-exporter').service));
}

/**
 * `my.cnf` of the mysqld exporter on a db host: the monitor user over TCP to the host's
 * own address (the user exists for the db hosts' addresses). Mode 0600.
 */
export function renderExporterMyCnf(plan: Plan, hostName: string, password: string): string {
  const { host } = serviceOn(plan, hostName, 'mysqld-exporter');
  return [
    header('#', `mysqld exporter on ${host.name} of stack ${plan.name}`),
    '[client]',
    `user=${plan.db.users.monitor}`,
    `password=${password}`,
    `host=${host.address}`,
    `port=${plan.db.port}`,
    '',
  ].join('\n');
}

/**
 * keepalived's notify script on an LB, run as `/bin/sh <script> INSTANCE <name> <STATE>
 * <priority>` at every state change (BACKUP at start, MASTER, FAULT, STOP): it writes
 * `tandem_vrrp_master` 1 in MASTER and `tandem_vrrp_standby` 1 in BACKUP, 0 otherwise,
 * atomically (rename).
 */
export function renderVrrpNotify(plan: Plan, lbHostName: string): string {
  const dir = textfileDirOn(plan, lbHostName);
  const tmp = `${dir}/.${VRRP_TEXTFILE}.tmp`;
  return [
    '#!/bin/sh',
    header('#', `keepalived notify script on ${lbHostName} of stack ${plan.name}`),
    'set -e',
    `mkdir -p '${dir}'`,
    'master=0 standby=0',
    'case "$3" in MASTER) master=1 ;; BACKUP) standby=1 ;; esac',
    `printf '# HELP ${VRRP_METRIC} 1 while keepalived on this LB holds the VIP (VRRP MASTER).\\n# TYPE ${VRRP_METRIC} gauge\\n${VRRP_METRIC}{vrrp_instance="%s"} %s\\n' "$2" "$master" > '${tmp}'`,
    `printf '# HELP ${VRRP_STANDBY_METRIC} 1 while keepalived on this LB stands by to take the VIP (VRRP BACKUP).\\n# TYPE ${VRRP_STANDBY_METRIC} gauge\\n${VRRP_STANDBY_METRIC}{vrrp_instance="%s"} %s\\n' "$2" "$standby" >> '${tmp}'`,
    `mv '${tmp}' '${dir}/${VRRP_TEXTFILE}'`,
    '',
  ].join('\n');
}

/** `tandem.prom` in a host's textfile folder: the host's roles, for the dashboard and queries. */
export function renderHostInfo(plan: Plan, hostName: string): string {
  const { host } = serviceOn(plan, hostName, 'node-exporter');
  return [
    "# HELP tandem_host_info The host's roles in the stack (tandem.config.ts); always 1.",
    '# TYPE tandem_host_info gauge',
    `tandem_host_info{roles="${host.roles.join(',')}"} 1`,
    '',
  ].join('\n');
}
