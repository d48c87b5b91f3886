/**
 * Prometheus alert rules for a stack: what a person on call wants to be woken for, each
 * with a summary and a description that says what to do. Groups exist only for what the
 * Plan has (no VIP rules without VRRP, no etcd rules without failover). Every rule has a
 * `promtool test rules` case in test/unit/fixtures/alert-rules/ (a unit test checks
 * that each one fires in some case and stays silent in another).
 *
 * Metric names are those of the engines Debian 12 ships: HAProxy 2.6's exporter (per-state
 * `haproxy_server_status`), mysqld_exporter 0.14 (`Yes`/`ON`/`Connecting` parsed as 1/1/0),
 * node_exporter 1.5, etcd 3.4, blackbox_exporter 0.23, Prometheus 2.42, Alertmanager 0.25.
 */
import type { Plan } from '../config/types.ts';
import { LEADER_TERM_METRIC } from '../sentinel/metrics.ts';
import { ARCHIVE_LAG_METRIC } from '../backup/archiver-state.ts';
import { HAPROXY_BACKEND } from './haproxy.ts';
import { monitorOf } from './prometheus.ts';
import { header } from './service.ts';
import { toYaml } from './yaml.ts';

/**
 * node_exporter's textfile collector reads this gauge on each LB: 1 while its keepalived
 * holds the VIP, 0 otherwise (written by keepalived's notify script).
 */
export const VRRP_METRIC = 'tandem_vrrp_master';

/**
 * Beside it: 1 while this LB's keepalived is BACKUP, ready to take the VIP (0 in MASTER,
 * FAULT — its HAProxy is down — or STOP). Both vanish when keepalived exits: its
 * supervisor removes the file (hosts/supervisor.mjs `stateFiles`), so a keepalived
 * killed with -9 does not go on reporting its last state.
 */
export const VRRP_STANDBY_METRIC = 'tandem_vrrp_standby';

/** HAProxy's public frontend (haproxy.ts). */
const PUBLIC_FRONTEND = 'www';

export type Severity = 'critical' | 'warning';

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** How long the condition must hold before the alert fires; absent: at once. */
  readonly for?: string;
  readonly severity: Severity;
  /** One line: what is wrong (label templates allowed). */
  readonly summary: string;
  /** What it means and what to do. */
  readonly description: string;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

function availability(): RuleGroup {
  return {
    name: 'availability',
    rules: [
      {
        alert: 'HostDown',
        expr: 'up{job="node"} == 0',
        for: '10s',
        severity: 'critical',
        summary: 'Host {{ $labels.host }} does not answer',
        description:
          "node_exporter on {{ $labels.host }} ({{ $labels.instance }}) has not answered for 10 s: the host is down, cut off from the monitor, or its exporter died. Run `tandem status`; the other alerts say which of the host's services are missing (LB backends, database roles), and `tandem up` brings the host back.",
      },
      {
        alert: 'ServiceDown',
        expr: 'up{job!="node"} == 0',
        for: '10s',
        severity: 'critical',
        summary: '{{ $labels.job }} on {{ $labels.host }} does not answer',
        description:
          "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }} for 10 s: the service or its exporter is down. See `tandem status` and the service's output.log under .tandem/hosts/{{ $labels.host }}/; its supervisor restarts it, and `tandem up` repairs what it cannot.",
      },
      {
        alert: 'DiskNearlyFull',
        expr: 'node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|squashfs"} / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|squashfs"} < 0.1',
        for: '1m',
        severity: 'warning',
        summary: 'Disk {{ $labels.mountpoint }} on {{ $labels.host }} is over 90% full',
        description:
          'Less than 10% of {{ $labels.mountpoint }} is free on {{ $labels.host }}. A full disk stops MariaDB (binlogs, relay logs) and the logs. Free space: old logs, old backups and binlogs past the archive; then grow the disk.',
      },
    ],
  };
}

function loadBalancer(plan: Plan): RuleGroup {
  const backend = `proxy="${HAPROXY_BACKEND}"`;
  const responses = `haproxy_frontend_http_responses_total{proxy="${PUBLIC_FRONTEND}"`;
  const { bounds } = monitorOf(plan);
  return {
    name: 'load-balancer',
    rules: [
      {
        alert: 'BackendServerDown',
        expr: `haproxy_server_status{${backend},state="DOWN"} == 1`,
        for: '5s',
        severity: 'warning',
        summary: 'HAProxy on {{ $labels.host }} marks {{ $labels.server }} down',
        description:
          "{{ $labels.host }}'s health checks of {{ $labels.server }} fail, so it sends that server no traffic; the others carry the load. Check nginx and the app on {{ $labels.server }} (`tandem status`, their output.log); once they answer, HAProxy brings the server back by itself.",
      },
      {
        alert: 'BackendAllDown',
        expr: `haproxy_backend_active_servers{${backend}} + haproxy_backend_backup_servers{${backend}} == 0`,
        for: '5s',
        severity: 'critical',
        summary: 'HAProxy on {{ $labels.host }} has no web server left',
        description:
          "Every server of {{ $labels.host }}'s backend is down: the site answers 503. Look at the web hosts first (`tandem status`): nginx, the app, and the database the app's readiness depends on.",
      },
      {
        alert: 'HighErrorRatio',
        expr: `sum by (host) (rate(${responses},code="5xx"}[1m])) / sum by (host) (rate(${responses}}[1m])) > ${bounds.errorRatio}`,
        for: '30s',
        severity: 'warning',
        summary: '{{ $value | humanizePercentage }} of the responses at {{ $labels.host }} are 5xx',
        description: `Over the last minute more than ${bounds.errorRatio * 100}% of the responses {{ $labels.host }} sent were 5xx. Find which server returns them (HAProxy's stats page, the apps' logs) and whether the database is reachable; a deploy in progress is a likely cause: roll it back.`,
      },
      {
        alert: 'HighLatencyP99',
        // HAProxy 2.6's exporter has averages and maxima, no histogram: the p99 comes from
        // the apps' prom-client histogram, the time the LB's requests spend behind nginx.
        expr: `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="app"}[1m]))) > ${bounds.p99LatencyS}`,
        for: '1m',
        severity: 'warning',
        summary: "The site's p99 latency is {{ $value | humanizeDuration }}",
        description: `One request in a hundred took longer than ${bounds.p99LatencyS} s over the last minute, across every app server. Check the database (replica lag, slow queries), CPU on the app hosts, and whether a server is missing so that the others carry its load.`,
      },
    ],
  };
}

function vip(plan: Plan): RuleGroup {
  const lbs = Object.keys(plan.lb.vrrp?.priorities ?? {}).length;
  return {
    name: 'vip',
    rules: [
      {
        alert: 'VipHeldByNoLb',
        expr: `(count(${VRRP_METRIC} == 1) or vector(0)) == 0`,
        // Longer than Prometheus' first scrapes of the LBs (≤ 5 s after its start) take
        // to come in, with an evaluation to spare: no VIP alert from a monitor that only
        // has not looked yet (it fired once right after `up`).
        for: '15s',
        severity: 'critical',
        summary: 'No load balancer holds the virtual IP',
        description:
          "Neither LB's keepalived reports itself master: the site's address answers nobody. Check keepalived on both LBs (`tandem status`, keepalived's output.log) and that VRRP passes between them; restarting keepalived on one LB makes it take the VIP.",
      },
      {
        alert: 'VipHeldByTwoLbs',
        expr: `count(${VRRP_METRIC} == 1) > 1`,
        for: '5s',
        severity: 'critical',
        summary: 'Both load balancers hold the virtual IP',
        description:
          'Split brain: both keepalived instances think they are master, usually because VRRP adverts between the LBs are lost (firewall, a partition). Clients reach whichever answers ARP last. Restore the path between the LBs; stopping keepalived on one ends it at once.',
      },
      // A dead LB host takes its node_exporter with it, so "held by no LB / by two" cannot
      // see it; what changed for on-call is that the next failure takes the site down.
      ...(lbs > 1
        ? [
            {
              alert: 'VipNoStandby',
              expr: `(count(${VRRP_STANDBY_METRIC} == 1) or vector(0)) == 0`,
              for: '10s',
              severity: 'warning',
              summary: 'No load balancer stands by to take over the virtual IP',
              description:
                "No LB's keepalived reports BACKUP: the LB that is not master is down, cut off from the monitor, its keepalived is not running, or its HAProxy is down (FAULT). The site still answers through the master, but its next failure takes the site down. Bring the other LB back (`tandem status`, `tandem up`); HostDown or ServiceDown names which.",
            } satisfies AlertRule,
          ]
        : []),
    ],
  };
}

function database(plan: Plan): RuleGroup {
  const primaryOnly = 'and on (instance) mysql_global_variables_read_only == 0';
  const lag = monitorOf(plan).bounds.replicaLagS;
  const rules: AlertRule[] = [
    {
      alert: 'DatabaseDown',
      expr: 'mysql_up == 0',
      for: '10s',
      severity: 'critical',
      summary: 'MariaDB on {{ $labels.host }} does not answer',
      description:
        "mysqld_exporter on {{ $labels.host }} cannot connect to MariaDB: it is down, hung, or refuses logins. If it was the primary, writes fail until it returns or a replica is promoted (`tandem status` shows which). Look at mariadb's output.log under .tandem/hosts/{{ $labels.host }}/.",
    },
  ];
  if (plan.db.replicas.length > 0) {
    rules.push(
      {
        alert: 'ReplicationStopped',
        expr: 'mysql_slave_status_slave_io_running == 0 or mysql_slave_status_slave_sql_running == 0',
        for: '10s',
        severity: 'critical',
        summary: 'Replication on {{ $labels.host }} is stopped',
        description:
          'The replica on {{ $labels.host }} has its IO or SQL thread stopped (or still connecting): it falls behind and cannot be promoted safely. `SHOW SLAVE STATUS` on it gives Last_IO_Error / Last_SQL_Error; a lost primary connection resumes by itself once the primary answers.',
      },
      {
        alert: 'ReplicaMissing',
        expr: `mysql_global_status_slaves_connected < ${plan.db.replicas.length} ${primaryOnly}`,
        for: '10s',
        severity: 'critical',
        summary: 'The primary {{ $labels.host }} has only {{ $value }} replica(s) connected',
        description: `The primary on {{ $labels.host }} has fewer than the ${plan.db.replicas.length} replica(s) the plan has: a replica is down or cut off, and the data lives in fewer places. Check the replica hosts (\`tandem status\`) and their replication threads.`,
      },
      {
        alert: 'ReplicaLagging',
        expr: `mysql_slave_status_seconds_behind_master > ${lag}`,
        for: '30s',
        severity: 'warning',
        summary: 'The replica on {{ $labels.host }} is {{ $value }} s behind',
        description: `The replica on {{ $labels.host }} has been more than ${lag} s behind its primary for 30 s: reads there are stale (the app waits for its own writes), and it is not eligible for promotion. Look for a long transaction on the primary or a slow disk or CPU on the replica.`,
      },
    );
  }
  // Only the sentinels move the primary by themselves; they report who holds the leader key.
  if (plan.db.failover) {
    rules.push({
      alert: 'DatabaseFailover',
      // More than one host held the leader key within 10 minutes. A new term with the same
      // holder (the stack restarted, or the primary's database restarted and took it back)
      // moved nothing.
      expr: `count(count by (leader) (max_over_time(${LEADER_TERM_METRIC}[10m]))) > 1`,
      severity: 'warning',
      summary: 'The database primary moved in the last 10 minutes',
      description:
        "The sentinels saw more than one database host hold the leader key in etcd within 10 minutes: a failover or a switchover happened. Run `tandem status` to see the new primary, find out why the old one lost the role (its host, MariaDB, or the lease in etcd: its sentinel's output.log says), and check that it rejoined as a replica rather than `diverged`.",
    });
  }
  if (plan.db.semiSync) {
    rules.push({
      alert: 'SemiSyncOff',
      expr: `mysql_global_status_rpl_semi_sync_master_status == 0 ${primaryOnly}`,
      for: '10s',
      severity: 'critical',
      summary: 'The primary {{ $labels.host }} commits without waiting for a replica',
      description:
        'Rpl_semi_sync_master_status is OFF on the primary {{ $labels.host }}: it fell back to asynchronous replication (no replica acknowledged in time), so a commit it acknowledges may exist nowhere else. Bring a replica back in sync; the primary switches semi-sync back on by itself once one catches up.',
    });
  }
  return { name: 'database', rules };
}

function etcd(): RuleGroup {
  return {
    name: 'etcd',
    rules: [
      {
        alert: 'EtcdNoLeader',
        expr: 'etcd_server_has_leader == 0',
        for: '5s',
        severity: 'critical',
        summary: 'etcd member {{ $labels.host }} has no leader',
        description:
          'The etcd member on {{ $labels.host }} sees no raft leader: without a quorum, no database lease can be renewed, so the primary fences itself and writes stop. Bring back the missing members (`tandem status` lists them); two of three are enough.',
      },
    ],
  };
}

function site(plan: Plan): RuleGroup {
  const rules: AlertRule[] = [
    {
      alert: 'SiteDown',
      expr: 'probe_success{job="blackbox"} == 0',
      for: '10s',
      severity: 'critical',
      summary: 'The site does not answer the probe at {{ $labels.instance }}',
      description:
        'The blackbox probe from the monitor host gets no good answer from the site (connection, TLS or status) for 10 s. Check the VIP and the LBs first (`tandem status`), then the backends: other alerts name what is down.',
    },
  ];
  if (plan.tls.enabled) {
    rules.push({
      alert: 'CertificateExpiringSoon',
      expr: 'probe_ssl_earliest_cert_expiry{job="blackbox"} - time() < 30 * 86400',
      severity: 'warning',
      summary: "The site's certificate expires in {{ $value | humanizeDuration }}",
      description:
        "The certificate the site presents expires within 30 days. With tandem's own CA, delete .tandem/tls/site.crt and run `tandem up`, which issues a new one; replace your own (`tls.cert`) with a renewed one, then `tandem up`.",
    });
  }
  return { name: 'site', rules };
}

function monitoring(): RuleGroup {
  const rejected = [
    'prometheus_target_scrapes_exceeded_sample_limit_total',
    'prometheus_target_scrapes_sample_out_of_order_total',
    'prometheus_target_scrapes_sample_duplicate_timestamp_total',
    'prometheus_target_scrapes_sample_out_of_bounds_total',
  ];
  return {
    name: 'monitoring',
    rules: [
      {
        alert: 'PrometheusRuleFailures',
        expr: 'increase(prometheus_rule_evaluation_failures_total[5m]) > 0',
        severity: 'warning',
        summary: 'Prometheus failed to evaluate rules of {{ $labels.rule_group }}',
        description:
          "Some alert rules could not be evaluated in the last 5 minutes, so they cannot fire. Prometheus' log (its output.log on the monitor host) names the rule and the error.",
      },
      {
        alert: 'PrometheusScrapeFailures',
        expr: `sum(${rejected.map((m) => `increase(${m}[5m])`).join(' + ')}) > 0`,
        severity: 'warning',
        summary: 'Prometheus rejected scraped samples',
        description:
          'Prometheus dropped samples of some target in the last 5 minutes (sample limit, out of order, duplicate or out-of-bounds timestamps), so some metrics are missing. Its log names the target; a clock jump on a host is the usual cause.',
      },
      {
        alert: 'PrometheusConfigReloadFailed',
        expr: 'prometheus_config_last_reload_successful == 0',
        severity: 'warning',
        summary: "Prometheus' last configuration reload failed",
        description:
          'Prometheus runs with an older configuration than the one on disk. `promtool check config` on prometheus.yml names the problem; `tandem up` renders it again.',
      },
      {
        alert: 'PrometheusNotificationsFailing',
        expr: 'increase(prometheus_notifications_errors_total[5m]) > 0',
        severity: 'critical',
        summary: 'Prometheus cannot send alerts to Alertmanager',
        description:
          "Alerts fire in Prometheus but do not reach Alertmanager, so nobody is notified. Check Alertmanager on the monitor host (`tandem status`); meanwhile Prometheus' own /alerts page shows what fires.",
      },
      {
        alert: 'AlertmanagerNotificationsFailing',
        expr: 'increase(alertmanager_notifications_failed_total[5m]) > 0',
        severity: 'critical',
        summary: 'Alertmanager cannot deliver to {{ $labels.integration }}',
        description:
          "Alertmanager's notifications to a receiver fail: tandem's webhook receiver (or a receiver you configured) is down or refuses them. `tandem alerts` still lists what fires, from Alertmanager's API.",
      },
    ],
  };
}

/**
 * Backups (issue 10), from the backup agent's metrics: the newest backup failed its
 * restore drill (or a later checksum), or no backup was verified for too long — twice
 * the scheduled period and half an hour for a backup and its drill to run.
 */
export function backupTooOldS(plan: Plan): number {
  const b = plan.backup!;
  return 2 * Math.min(b.incrementalEveryS, b.fullEveryS) + 1800;
}

function backups(plan: Plan): RuleGroup {
  const tooOld = backupTooOldS(plan);
  return {
    name: 'backup',
    rules: [
      {
        alert: 'BackupDrillFailed',
        expr: 'tandem_backup_last_failed == 1',
        severity: 'critical',
        summary: 'The newest backup on {{ $labels.host }} failed its restore drill or its checksum',
        description:
          'The backup agent on {{ $labels.host }} could not verify its newest backup: its restore drill failed or found differences, or its stored file no longer matches its checksum. It will not be used by a restore, nor as the base of an incremental. `tandem backups` shows why; fix the cause and take a new one with `tandem backup --full`.',
      },
      {
        alert: 'BackupTooOld',
        expr: `tandem_backup_last_verified_timestamp_seconds > 0 and time() - tandem_backup_last_verified_timestamp_seconds > ${tooOld}`,
        severity: 'warning',
        summary: 'No backup verified on {{ $labels.host }} for more than ' + `${Math.round(tooOld / 60)} minutes`,
        description:
          'The newest backup the restore drill verified on {{ $labels.host }} is older than twice the schedule allows: the schedule stopped, or every backup since failed. A restore would lose everything since that backup unless the binlog archive covers it. See the backup agent output.log and `tandem backups`, then `tandem backup`.',
      },
      {
        alert: 'BackupNeverVerified',
        expr: `tandem_backup_last_verified_timestamp_seconds == 0 and time() - tandem_backup_agent_started_timestamp_seconds > ${tooOld}`,
        severity: 'warning',
        summary: `No backup verified on {{ $labels.host }} in the ${Math.round(tooOld / 60)} minutes since its backup agent started`,
        description:
          'The backup agent on {{ $labels.host }} has run for longer than twice its schedule allows without one verified backup: the stack cannot be restored at all. See the backup agent output.log and `tandem backups`, then take one with `tandem backup --full`.',
      },
    ],
  };
}

/** The rule groups for `plan`: only what exists in it is watched. */
export function alertRuleGroups(plan: Plan): RuleGroup[] {
  return [
    availability(),
    loadBalancer(plan),
    ...(plan.lb.vrrp ? [vip(plan)] : []),
    database(plan),
    ...(plan.etcd ? [etcd()] : []),
    site(plan),
    monitoring(),
    ...(plan.backup ? [backups(plan)] : []),
    ...(plan.backup ? [archive()] : []),
  ];
}

/** The binlog archive on the backup host (issue 10): its lag is the recovery point at risk. */
function archive(): RuleGroup {
  return {
    name: 'archive',
    rules: [
      {
        alert: 'ArchiveStopped',
        expr: 'tandem_archive_streaming == 0',
        for: '15s',
        severity: 'critical',
        summary: "The binlog archive on {{ $labels.host }} is not streaming the primary's binlog",
        description:
          'The binlog archiver on {{ $labels.host }} has had no mariadb-binlog stream for 15 s: writes since then exist only on the database hosts, and a point-in-time restore cannot reach them. Its output.log under .tandem/hosts/{{ $labels.host }}/binlog-archiver/ says why (no writable primary, refused login, firewall); `tandem status` shows what it follows.',
      },
      {
        alert: 'ArchiveBehind',
        expr: `${ARCHIVE_LAG_METRIC} > 5`,
        for: '10s',
        severity: 'critical',
        summary: 'The binlog archive is {{ $value }} s behind the primary',
        description:
          "The archive has lacked some of the primary's transactions for more than 5 s (the goal is 1 s): that much acknowledged work would be lost with the database hosts. Look at the backup host's disk and network, and the archiver's output.log.",
      },
      {
        alert: 'ArchiveHole',
        expr: 'tandem_archive_holes > 0',
        severity: 'warning',
        summary: 'The binlog archive has {{ $value }} gap(s) in its GTID sequence',
        description:
          "Transactions are missing from the archive (the primary's binlog was purged or lost before the archiver read it): a point-in-time restore cannot cross the gap. index.json in the archive folder lists each hole; take a full backup now, so restores can start after it.",
      },
    ],
  };
}

/** `alert-rules.yml`, beside prometheus.yml on the monitor host. */
export function renderAlertRules(plan: Plan): string {
  const groups = alertRuleGroups(plan).map((g) => ({
    name: g.name,
    rules: g.rules.map((r) => ({
      alert: r.alert,
      expr: r.expr,
      for: r.for,
      labels: { severity: r.severity },
      annotations: { summary: r.summary, description: r.description },
    })),
  }));
  return `${header('#', `alert rules of stack ${plan.name}`)}\n${toYaml({ groups })}`;
}
