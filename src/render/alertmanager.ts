/**
 * Alertmanager 0.25's `alertmanager.yml`: every alert goes to tandem's webhook receiver
 * on the monitor host, grouped per alert and host, resolved ones included. Short waits,
 * so a fault shows within seconds (the chaos tests bound it). A dead host inhibits the
 * alerts of the services on it: one page, not one per exporter.
 */
import type { Plan } from '../config/types.ts';
import { monitorOf } from './prometheus.ts';
import { header } from './service.ts';
import { toYaml } from './yaml.ts';

/** The receiver's name, and the path tandem's webhook receiver answers on. */
export const WEBHOOK_RECEIVER = 'tandem';
export const WEBHOOK_PATH = '/alerts';

/** Alerts per notification: at ~1.5 KiB each with their annotations, well within the receiver's 256 KiB. */
export const WEBHOOK_MAX_ALERTS = 100;

/** The URL Alertmanager posts notifications to. */
export function webhookUrl(plan: Plan): string {
  const monitor = monitorOf(plan);
  return `http://${monitor.address}:${monitor.webhookPort}${WEBHOOK_PATH}`;
}

/** `alertmanager.yml` of the monitor host. */
export function renderAlertmanager(plan: Plan): string {
  const monitor = monitorOf(plan);
  const config = {
    global: { resolve_timeout: '1m' },
    route: {
      receiver: WEBHOOK_RECEIVER,
      group_by: ['alertname', 'host'],
      group_wait: '2s',
      group_interval: '5s',
      repeat_interval: '1h',
    },
    receivers: [
      {
        name: WEBHOOK_RECEIVER,
        // At most this many alerts per notification (the rest are counted in
        // `truncatedAlerts`), so one stays within the receiver's body limit.
        webhook_configs: [{ url: webhookUrl(plan), send_resolved: true, max_alerts: WEBHOOK_MAX_ALERTS }],
      },
    ],
    inhibit_rules: [
      {
        source_matchers: ['alertname="HostDown"'],
        target_matchers: ['alertname!="HostDown"'],
        equal: ['host'],
      },
    ],
  };
  return `${header('#', `Alertmanager on ${monitor.host} for stack ${plan.name}`)}\n${toYaml(config)}`;
}
