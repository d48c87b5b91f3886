/**
 * What running the monitor's engines means (issue 9): Prometheus, Alertmanager and the
 * blackbox exporter on the monitor host, node_exporter on every host, the mysqld and
 * nginx exporters beside each database and web server. Each is a Go program configured
 * by flags, listening on its host's own address; the firewall opens the scrape ports to
 * the monitor host only.
 */
import path from 'node:path';
import type { ServicePaths } from '../config/paths.ts';
import { hostOf } from '../config/resolve.ts';
import type { MonitorKind, Plan, PlanService } from '../config/types.ts';
import { nginxExporterEngine, textfileDir } from '../engines/exporters.ts';
import { monitorEngines } from '../engines/index.ts';
import type { ListeningEngine } from '../engines/types.ts';
import type { Secrets } from '../hosts/secrets.ts';
import type { SupervisedSpec } from '../hosts/supervise.ts';
import { renderAlertRules } from '../render/alert-rules.ts';
import { renderAlertmanager } from '../render/alertmanager.ts';
import { renderBlackbox } from '../render/blackbox.ts';
import {
  renderExporterMyCnf,
  renderHostInfo,
  renderVrrpNotify,
  textfileDirOn,
  VRRP_TEXTFILE,
} from '../render/exporters.ts';
import { vrrpNotifyScript } from '../render/keepalived.ts';
import { stubStatusUrl } from '../render/nginx.ts';
import { ALERT_RULES_FILE, renderPrometheus } from '../render/prometheus.ts';
import type { ServiceFile } from './services.ts';

export function isMonitorKind(kind: PlanService['kind']): kind is MonitorKind {
  return kind in monitorEngines;
}

function commandOf(plan: Plan, service: PlanService, kind: MonitorKind, paths: ServicePaths): string[] {
  const listen = `${service.address}:${service.port}`;
  if (kind === 'nginx-exporter')
    return nginxExporterEngine.runCommand(paths, listen, stubStatusUrl(plan, service.address));
  return (monitorEngines[kind] as ListeningEngine).runCommand(paths, listen);
}

/**
 * The files, engine and supervised command of one monitoring service. Only `up` passes
 * the monitor user's password (the mysqld exporter's my.cnf is then among its files).
 */
export function monitorUnit(
  plan: Plan,
  service: PlanService & { kind: MonitorKind },
  paths: ServicePaths,
  secrets?: Pick<Secrets, 'dbMonitorPassword'>,
): { engine: Omit<ListeningEngine, 'runCommand'>; files: ServiceFile[]; spec: SupervisedSpec } {
  const engine = monitorEngines[service.kind];
  const argv = commandOf(plan, service, service.kind, paths);
  const command = { path: paths.config, content: `${JSON.stringify({ argv }, null, 2)}\n` };
  const files: Record<MonitorKind, () => ServiceFile[]> = {
    prometheus: () => [
      { path: paths.config, content: renderPrometheus(plan) },
      { path: path.join(paths.dir, ALERT_RULES_FILE), content: renderAlertRules(plan) },
    ],
    alertmanager: () => [{ path: paths.config, content: renderAlertmanager(plan) }],
    'blackbox-exporter': () => [{ path: paths.config, content: renderBlackbox(plan) }],
    'node-exporter': () => [
      command,
      { path: path.join(textfileDir(paths), 'tandem.prom'), content: renderHostInfo(plan, service.host) },
    ],
    'mysqld-exporter': () =>
      secrets
        ? [
            {
              path: paths.config,
              content: renderExporterMyCnf(plan, service.host, secrets.dbMonitorPassword),
              mode: 0o600,
            },
          ]
        : [],
    'nginx-exporter': () => [command],
  };
  return {
    engine,
    files: files[service.kind](),
    spec: {
      id: service.id,
      namespace: hostOf(plan, service.host).namespace,
      argv,
      cwd: paths.dir,
      stopSignal: engine.stopSignal,
      reloadSignal: engine.reloadSignal ?? undefined,
      stopTimeoutMs: engine.stopGraceMs,
    },
  };
}

/** keepalived's notify script on an LB, when a monitor watches the stack. */
export function keepalivedMonitorFiles(plan: Plan, service: PlanService): ServiceFile[] {
  if (!plan.monitor || service.kind !== 'keepalived') return [];
  return [{ path: vrrpNotifyScript(service.dir), content: renderVrrpNotify(plan, service.host), mode: 0o700 }];
}

/**
 * The VRRP state file of an LB's keepalived: its supervisor removes it whenever
 * keepalived is not running, so node_exporter never serves a dead keepalived's state.
 */
export function keepalivedStateFiles(plan: Plan, service: PlanService): string[] {
  if (!plan.monitor || service.kind !== 'keepalived') return [];
  return [path.join(textfileDirOn(plan, service.host), VRRP_TEXTFILE)];
}

/** The path a readiness probe asks over HTTP: 200 once the engine serves. */
export function readyPathOf(kind: MonitorKind): string {
  return monitorEngines[kind].readyPath;
}
