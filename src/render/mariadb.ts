/**
 * MariaDB 10.11 option file for one database host, primary or replica by
 * `plan.db.primary`. Read with `--defaults-file`, so only this file counts (not
 * Debian's /etc/mysql). Semi-sync is on in the file on every db host (so it survives
 * a crash-restart by the supervisor, and any host can become primary), with
 * `rpl_semi_sync_master_wait_no_slave = OFF`: while no replica is connected the
 * primary does not wait at all (the first-write stall of ENGINES.md), and it waits
 * again for acknowledgements as soon as a replica reconnects.
 */
import path from 'node:path';
import { servicePaths } from '../config/paths.ts';
import type { Plan } from '../config/types.ts';
import { header, serviceOn } from './service.ts';

/**
 * mariadbd's own pid file. Not `servicePaths().pid` (the supervisor writes that one
 * and mariadbd deletes its pid file on shutdown; two writers would race).
 */
export function mariadbPidFile(dataDir: string): string {
  return path.join(dataDir, 'mariadbd.pid');
}

/** mariadbd's temporary files (tmpdir): in the service's folder, apart from other instances. */
export function mariadbTmpDir(serviceDir: string): string {
  return path.join(serviceDir, 'tmp');
}

/** `my.cnf` for the database host `dbHostName`. */
export function renderMyCnf(plan: Plan, dbHostName: string): string {
  const { host, service } = serviceOn(plan, dbHostName, 'mariadb');
  const paths = servicePaths(service);
  const { db } = plan;
  const serverId = db.serverIds[host.name];
  if (serverId === undefined) throw new Error(`database host ${host.name} has no server_id in the plan`);
  const isPrimary = host.name === db.primary;
  // With failover the sentinels decide who is primary: every file is the same, read-only.
  const role = db.failover
    ? 'primary or replica, as its sentinel decides'
    : isPrimary
      ? 'primary'
      : `replica of ${db.primary}`;

  const lines = [
    header('#', `MariaDB for ${host.name} (${host.address}, ${role}) of stack ${plan.name}`),
    '',
    // `mariadb --defaults-file=<this file>` and `mariadb-admin` connect as root over the
    // socket (root authenticates by unix_socket: no password anywhere on disk).
    '[client]',
    'user = root',
    `socket = ${paths.socket}`,
    '',
    '[mariadbd]',
    'user = root',
    `datadir = ${paths.data}`,
    `socket = ${paths.socket}`,
    `pid-file = ${mariadbPidFile(paths.data)}`,
    "# Its own temporary folder: two installers sharing /tmp lost each other's temporary tables.",
    `tmpdir = ${mariadbTmpDir(paths.dir)}`,
    `log_error = ${paths.log}`,
    `bind_address = ${host.address}`,
    `port = ${service.port}`,
    'skip_name_resolve = ON',
    'character_set_server = utf8mb4',
    'collation_server = utf8mb4_general_ci',
    'max_connections = 300',
    'performance_schema = OFF',
    '',
    '# Durability: nothing acknowledged is lost on a crash.',
    'sync_binlog = 1',
    ...(db.failover
      ? [
          '# 3, not 1: with 1 and the binlog on, InnoDB leaves the commit record in its log buffer (the binlog',
          '# recovers it); a crash-restart with init_rpl_role = SLAVE rolls such a transaction back and cuts it',
          '# from the binlog, though its client was told it committed (a primary writing alone lost it).',
          'innodb_flush_log_at_trx_commit = 3',
        ]
      : ['innodb_flush_log_at_trx_commit = 1']),
    `innodb_buffer_pool_size = ${db.bufferPoolMb}M`,
    '# Small redo log: a fresh datadir initialises fast.',
    'innodb_log_file_size = 32M',
    '',
    '# Replication: GTID, every host able to become primary.',
    `server_id = ${serverId}`,
    `report_host = ${host.address}`,
    `report_port = ${service.port}`,
    `log_bin = ${path.join(paths.data, 'binlog')}`,
    `relay_log = ${path.join(paths.data, 'relay-bin')}`,
    'log_slave_updates = ON',
    'binlog_format = ROW',
    'gtid_strict_mode = ON',
    'gtid_domain_id = 0',
    'max_binlog_size = 64M',
    'binlog_expire_logs_seconds = 604800',
    '# A replica notices a silent primary within 10 s (heartbeat every 5 s).',
    'slave_net_timeout = 10',
    '# Parallel apply: a replica catches up quickly before a promotion.',
    'slave_parallel_threads = 4',
    'slave_parallel_mode = optimistic',
    '# A replica restarted by the supervisor resumes replication (skip_slave_start stays OFF).',
    '',
    '# Read-your-writes: the OK packet carries the session last_gtid.',
    'session_track_system_variables = autocommit,character_set_client,character_set_connection,character_set_results,time_zone,last_gtid',
    '',
    ...(db.failover ? failoverLines(db.semiSync) : semiSyncLines(db.semiSync, db.semiSyncTimeoutMs, isPrimary)),
    '',
  ];
  return lines.join('\n');
}

/** Semi-sync without failover: with no replica connected, the primary does not wait at all. */
function semiSyncLines(semiSync: boolean, timeoutMs: number, isPrimary: boolean): string[] {
  return [
    '# Semi-sync: lossless wait point. With no replica connected, do not wait at all.',
    `rpl_semi_sync_master_enabled = ${semiSync ? 'ON' : 'OFF'}`,
    `rpl_semi_sync_slave_enabled = ${semiSync ? 'ON' : 'OFF'}`,
    'rpl_semi_sync_master_wait_no_slave = OFF',
    'rpl_semi_sync_master_wait_point = AFTER_SYNC',
    `rpl_semi_sync_master_timeout = ${timeoutMs}`,
    ...(isPrimary ? [] : ['', '# Replica: only the replication threads write.', 'read_only = ON']),
  ];
}

/**
 * Semi-sync under the sentinels: MariaDB never falls back to asynchronous by itself (the
 * primary's sentinel records in etcd that no replica is eligible before it lets commits
 * go on alone). Every instance starts read-only and without replication: its sentinel
 * makes it the primary or points it at the primary. After a crash, transactions that no
 * replica acknowledged are rolled back and cut from the binlog (init_rpl_role = SLAVE),
 * so a crashed primary can rejoin as a replica of the one promoted in its place.
 */
function failoverLines(semiSync: boolean): string[] {
  return [
    '# Semi-sync: lossless wait point, never timing out into asynchronous replication.',
    `rpl_semi_sync_master_enabled = ${semiSync ? 'ON' : 'OFF'}`,
    `rpl_semi_sync_slave_enabled = ${semiSync ? 'ON' : 'OFF'}`,
    'rpl_semi_sync_master_wait_no_slave = ON',
    'rpl_semi_sync_master_wait_point = AFTER_SYNC',
    '# About 49 days: only the sentinel turns the wait off, after recording it in etcd.',
    'rpl_semi_sync_master_timeout = 4294967295',
    '',
    '# Failover: the sentinel decides who writes and who replicates from whom.',
    'read_only = ON',
    'skip_slave_start = ON',
    'init_rpl_role = SLAVE',
  ];
}
