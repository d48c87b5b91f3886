/**
 * tandem's receiver of Alertmanager's webhook notifications (issue 9), as a factory:
 * `buildReceiver(opts)` returns a Fastify instance without listening (tests use
 * `inject`; main.ts listens on the monitor host). It accepts only Alertmanager's
 * webhook payload (version 4, checked by a JSON schema, at most `bodyLimit` bytes),
 * records each alert it carries (record.ts) and logs one line per notification.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { RECEIVER_BODY_LIMIT, RECEIVER_READY_PATH } from './receiver-config.ts';
import { type NotificationLog, type NotificationRecord } from './record.ts';

export interface ReceiverOptions {
  /** Where notifications are recorded. */
  readonly record: NotificationLog;
  /** The path Alertmanager posts to (render/alertmanager.ts `WEBHOOK_PATH`). */
  readonly path: string;
  /** Largest body accepted, in bytes; larger is 413. @default RECEIVER_BODY_LIMIT */
  readonly bodyLimit?: number;
  /** One line per notification. @default console.log */
  readonly log?: (line: string) => void;
  readonly now?: () => Date;
}

export { RECEIVER_BODY_LIMIT, RECEIVER_READY_PATH, type ReceiverConfig } from './receiver-config.ts';

const labelMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const status = { type: 'string', enum: ['firing', 'resolved'] } as const;

/** Alertmanager 0.25's webhook payload (version 4): the fields tandem reads, others allowed. */
export const WEBHOOK_SCHEMA = {
  type: 'object',
  required: ['version', 'status', 'receiver', 'groupKey', 'alerts'],
  properties: {
    version: { type: 'string', const: '4' },
    status,
    receiver: { type: 'string' },
    groupKey: { type: 'string' },
    groupLabels: labelMap,
    alerts: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['status', 'labels', 'annotations', 'startsAt', 'endsAt', 'fingerprint'],
        properties: {
          status,
          labels: { ...labelMap, required: ['alertname'] },
          annotations: labelMap,
          startsAt: { type: 'string' },
          endsAt: { type: 'string' },
          fingerprint: { type: 'string' },
        },
      },
    },
  },
} as const;

interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  fingerprint: string;
}

interface WebhookPayload {
  status: 'firing' | 'resolved';
  receiver: string;
  groupKey: string;
  alerts: WebhookAlert[];
}

function recordOf(alert: WebhookAlert, receivedAt: string): NotificationRecord {
  const { alertname, host, severity } = alert.labels;
  return {
    receivedAt,
    status: alert.status,
    alertname: alertname!,
    ...(host !== undefined ? { host } : {}),
    ...(severity !== undefined ? { severity } : {}),
    ...(alert.annotations.summary !== undefined ? { summary: alert.annotations.summary } : {}),
    startsAt: alert.startsAt,
    endsAt: alert.endsAt,
    fingerprint: alert.fingerprint,
    labels: alert.labels,
  };
}

/** `<time> firing HostDown lb-1 (1 alert): Host lb-1 does not answer` */
export function notificationLine(payload: WebhookPayload, receivedAt: string): string {
  const [first] = payload.alerts;
  const names = [...new Set(payload.alerts.map((a) => a.labels.alertname))].join(',');
  const hosts = [...new Set(payload.alerts.map((a) => a.labels.host).filter((h) => h !== undefined))].join(',');
  const count = `${payload.alerts.length} alert${payload.alerts.length === 1 ? '' : 's'}`;
  const summary = first?.annotations.summary ? `: ${first.annotations.summary}` : '';
  return `${receivedAt} ${payload.status} ${names}${hosts ? ` ${hosts}` : ''} (${count})${summary}`;
}

export function buildReceiver(opts: ReceiverOptions): FastifyInstance {
  const log = opts.log ?? ((line: string) => console.log(line));
  const now = opts.now ?? (() => new Date());
  const app = Fastify({
    bodyLimit: opts.bodyLimit ?? RECEIVER_BODY_LIMIT,
    logger: false,
    // Unknown fields are Alertmanager's to add; the schema names what tandem needs.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });
  app.get(RECEIVER_READY_PATH, async () => 'ok\n');
  app.post<{ Body: WebhookPayload }>(opts.path, { schema: { body: WEBHOOK_SCHEMA } }, async (request, reply) => {
    const receivedAt = now().toISOString();
    opts.record.append(request.body.alerts.map((a) => recordOf(a, receivedAt)));
    log(notificationLine(request.body, receivedAt));
    return reply.code(200).send({ recorded: request.body.alerts.length });
  });
  app.setErrorHandler((err: { statusCode?: number; message: string }, _request, reply) => {
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    // A refused notification is logged too: Alertmanager retries it, and its log says why.
    log(`${now().toISOString()} refused (${code}): ${err.message}`);
    return reply.code(code).send({ error: err.message });
  });
  return app;
}
