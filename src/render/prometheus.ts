/**
 * Prometheus 2.42's `prometheus.yml` for the monitor host: one scrape job per kind of
 * exporter, each target labelled with its host's name (`host`), the alert rules beside
 * it (alert-rules.ts) and Alertmanager on the same host. Every exporter listens on its
 * host's own address; the firewall opens those ports to the monitor host only.
 */
import { appAdminPort } from '../deploy/releases.ts';
import type { Plan, PlanHost, PlanMonitor, Role, ServiceKind } from '../config/types.ts';
import { HAPROXY_METRICS_PORT } from './haproxy.ts';
import { header } from './service.ts';
import { toYaml, type YamlValue } from './yaml.ts';

/** The rules file, next to prometheus.yml (Prometheus reads `rule_files` relative to its config). */
export const ALERT_RULES_FILE = 'alert-rules.yml';

/** The blackbox exporter's module that probes the site (blackbox.ts). */
export const SITE_PROBE_MODULE = 'site';

/** The plan's monitor section; renderers of the monitor's files need one. */
export function monitorOf(plan: Plan): PlanMonitor {
  if (!plan.monitor) throw new Error("the plan has no monitor (no host has the 'monitor' role)");
  return plan.monitor;
}

/** One static target group per host: `address:port`, labelled with the host's name. */
function targets(hosts: readonly PlanHost[], port: number): YamlValue[] {
  return hosts.map((h) => ({ targets: [`${h.address}:${port}`], labels: { host: h.name } }));
}

function job(name: string, groups: YamlValue[], extra: Record<string, YamlValue> = {}): YamlValue {
  return { job_name: name, ...extra, static_configs: groups };
}

/** The site's URL as the probe dials it: the VIP (netns) instead of the name, which needs DNS. */
export function siteProbeTarget(plan: Plan): string {
  const url = new URL(plan.url);
  if (plan.lb.vip) url.hostname = plan.lb.vip;
  return url.toString();
}

function scrapeJobs(plan: Plan, monitor: PlanMonitor): YamlValue[] {
  const having = (role: Role) => plan.hosts.filter((h) => h.roles.includes(role));
  const self = plan.hosts.filter((h) => h.name === monitor.host);
  /** A job for the one service of `kind` (tandem's own, on the backup host), when the plan has it. */
  const serviceJob = (name: string, kind: ServiceKind): YamlValue[] => {
    const service = plan.services.find((s) => s.kind === kind);
    return service
      ? [
          job(
            name,
            targets(
              plan.hosts.filter((h) => h.name === service.host),
              service.port,
            ),
          ),
        ]
      : [];
  };
  const jobs: YamlValue[] = [
    job('node', targets(plan.hosts, monitor.exporterPorts.node)),
    job('haproxy', targets(having('lb'), HAPROXY_METRICS_PORT)),
    job('nginx', targets(having('web'), monitor.exporterPorts.nginx)),
    // Each app where it runs now: its slot's private listener (`tandem deploy`).
    job(
      'app',
      plan.services
        .filter((s) => s.kind === 'app')
        .flatMap((s) =>
          targets(
            plan.hosts.filter((h) => h.name === s.host),
            appAdminPort(plan, s),
          ),
        ),
    ),
    job('mysqld', targets(having('db'), monitor.exporterPorts.mysqld)),
  ];
  const etcd = plan.etcd;
  if (etcd) {
    // etcd serves /metrics on its client port, which asks for a client certificate.
    const members = etcd.members.map((m) => plan.hosts.find((h) => h.name === m.host)!);
    jobs.push(
      job('etcd', targets(members, etcd.clientPort), {
        scheme: 'https',
        tls_config: { ca_file: etcd.tls.ca, cert_file: etcd.tls.clientCert, key_file: etcd.tls.clientKey },
      }),
    );
  }
  const sentinels = plan.services.filter((s) => s.kind === 'sentinel').map((s) => s.host);
  if (sentinels.length > 0) {
    jobs.push(
      job(
        'sentinel',
        targets(
          having('db').filter((h) => sentinels.includes(h.name)),
          monitor.exporterPorts.sentinel,
        ),
      ),
    );
  }
  // The binlog archiver on the backup host (issue 10): its lag is the recovery point at risk.
  jobs.push(...serviceJob('binlog-archiver', 'binlog-archiver'));
  jobs.push(
    // The blackbox exporter probes the target named in the URL; `instance` keeps the site's URL.
    job('blackbox', [{ targets: [siteProbeTarget(plan)], labels: { host: monitor.host } }], {
      metrics_path: '/probe',
      params: { module: [SITE_PROBE_MODULE] },
      relabel_configs: [
        { source_labels: ['__address__'], target_label: '__param_target' },
        { source_labels: ['__param_target'], target_label: 'instance' },
        { target_label: '__address__', replacement: `${monitor.address}:${monitor.blackboxPort}` },
      ],
    }),
    job('prometheus', targets(self, monitor.prometheusPort)),
    job('alertmanager', targets(self, monitor.alertmanagerPort)),
  );
  // The backup agent's metrics (issue 10): its last verified backup and failed drills.
  jobs.push(...serviceJob('backup', 'backup-agent'));
  return jobs;
}

/** `prometheus.yml` of the monitor host. */
export function renderPrometheus(plan: Plan): string {
  const monitor = monitorOf(plan);
  const interval = `${monitor.scrapeIntervalS}s`;
  const config = {
    global: {
      scrape_interval: interval,
      // A scrape must end before the next one starts.
      scrape_timeout: `${Math.max(1, monitor.scrapeIntervalS - 1)}s`,
      evaluation_interval: interval,
      external_labels: { stack: plan.name },
    },
    rule_files: [ALERT_RULES_FILE],
    alerting: {
      alertmanagers: [{ static_configs: [{ targets: [`${monitor.address}:${monitor.alertmanagerPort}`] }] }],
    },
    scrape_configs: scrapeJobs(plan, monitor),
  };
  return `${header('#', `Prometheus on ${monitor.host} for stack ${plan.name}`)}\n${toYaml(config)}`;
}
