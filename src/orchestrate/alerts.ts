/**
 * What fires now on a stack (issue 9), for `tandem alerts` and anyone else: the alerts
 * Alertmanager holds (its API v2, `/api/v2/alerts`: active, inhibited or silenced), each
 * with when tandem's webhook receiver last got a notification of it (its record on the
 * monitor host). tandem reaches Alertmanager from the machine running it: the firewall
 * opens its port to the bridge address on netns; on loopback it is a local address.
 */
import type { Plan } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { readRecords } from '../alert-receiver/record.ts';
import { stackNotificationsFile } from './alert-receiver.ts';

/** One alert that fires now. */
export interface FiringAlert {
  /** `alertname`. */
  readonly name: string;
  /** The host it concerns; absent for an alert about the stack as a whole (the VIP pair). */
  readonly host?: string;
  /** The scraped target (`address:port`, or the probed URL), when the alert has one. */
  readonly instance?: string;
  readonly severity?: string;
  /** `active`: notified; `suppressed`: inhibited (its host is down) or silenced. */
  readonly state: 'active' | 'suppressed' | 'unprocessed';
  /** When it began firing (ISO 8601, Prometheus' time). */
  readonly since: string;
  readonly summary?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** When tandem's receiver last got a notification of it firing; absent: none yet. */
  readonly notifiedAt?: string;
}

export interface AlertsReport {
  /** The monitor host, and the Alertmanager API asked. */
  readonly monitor: string;
  readonly alertmanager: string;
  /** Oldest first. */
  readonly alerts: readonly FiringAlert[];
}

/** One alert of Alertmanager's `GET /api/v2/alerts` (gettableAlert), the fields read here. */
interface GettableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt: string;
  fingerprint: string;
  status: { state: FiringAlert['state'] };
}

/** Alertmanager's base URL on the stack's monitor host; a clear error when there is none. */
export function alertmanagerUrl(plan: Plan): { host: string; url: string } {
  if (!plan.monitor) {
    throw new TandemError(
      'TANDEM_STATE',
      `stack ${plan.name} has no monitor host: nothing watches it, so nothing can fire`,
      "give a host the 'monitor' role in the config (the default design has one), then `tandem up`",
    );
  }
  return { host: plan.monitor.host, url: `http://${plan.monitor.address}:${plan.monitor.alertmanagerPort}` };
}

/**
 * Alertmanager's alerts → FiringAlert[], oldest first; `notified` maps a fingerprint to
 * when the receiver last recorded it firing. Pure.
 */
export function firingAlertsOf(body: unknown, notified: ReadonlyMap<string, string> = new Map()): FiringAlert[] {
  if (!Array.isArray(body)) throw new Error('Alertmanager answered something other than a list of alerts');
  return (body as GettableAlert[])
    .map((a) => {
      const { alertname, host, instance, severity } = a.labels;
      const summary = a.annotations?.summary;
      const at = notified.get(a.fingerprint);
      return {
        name: alertname ?? '(no name)',
        ...(host !== undefined ? { host } : {}),
        ...(instance !== undefined ? { instance } : {}),
        ...(severity !== undefined ? { severity } : {}),
        state: a.status.state,
        since: a.startsAt,
        ...(summary !== undefined ? { summary } : {}),
        labels: a.labels,
        ...(at !== undefined ? { notifiedAt: at } : {}),
      };
    })
    .sort((a, b) => a.since.localeCompare(b.since) || a.name.localeCompare(b.name));
}

/** Fingerprint → when the receiver last recorded that alert firing. */
function lastNotified(plan: Plan): Map<string, string> {
  const file = stackNotificationsFile(plan);
  const notified = new Map<string, string>();
  for (const r of file ? readRecords(file) : []) if (r.status === 'firing') notified.set(r.fingerprint, r.receivedAt);
  return notified;
}

/** What fires now on `plan`'s stack. Throws a TandemError when there is no monitor or it does not answer. */
export async function listAlerts(plan: Plan, opts: { timeoutMs?: number } = {}): Promise<AlertsReport> {
  const { host, url } = alertmanagerUrl(plan);
  const api = `${url}/api/v2/alerts`;
  let body: unknown;
  try {
    const res = await fetch(api, { signal: AbortSignal.timeout(opts.timeoutMs ?? 3000) });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (err) {
    const why = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    throw new TandemError(
      'TANDEM_NOT_READY',
      `Alertmanager on ${host} (${url}) does not answer: ${why}`,
      'the monitor host is down or not up yet: `tandem status` shows its services, `tandem up` starts them',
    );
  }
  return { monitor: host, alertmanager: url, alerts: firingAlertsOf(body, lastNotified(plan)) };
}
