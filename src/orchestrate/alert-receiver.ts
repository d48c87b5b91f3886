/**
 * What running tandem's alert receiver means (issue 9): a small Node service on the
 * monitor host (src/alert-receiver/), supervised like the engines, listening on the
 * monitor's address at `monitor.webhookPort` where Alertmanager posts. Only the monitor
 * host itself reaches it: its own traffic arrives over `lo`, and the firewall opens the
 * port to nobody. It records notifications in `notifications.jsonl` in its folder.
 */
import path from 'node:path';
import type { ServicePaths } from '../config/paths.ts';
import { servicePaths } from '../config/paths.ts';
import type { Plan, PlanService } from '../config/types.ts';
import type { SupervisedSpec } from '../hosts/supervise.ts';
import { ROOT } from '../prebuilt.mjs';
import { nodeServiceSpec } from './node-service.ts';
import { RECEIVER_BODY_LIMIT, type ReceiverConfig } from '../alert-receiver/receiver-config.ts';
import { WEBHOOK_PATH } from '../render/alertmanager.ts';
import type { ServiceFile } from './services.ts';

const ENTRY = path.join(ROOT, 'src', 'alert-receiver', 'main.ts');

/** Notifications kept in the record: at ~0.5 KiB each, the file stays under 1 MiB. */
export const RECEIVER_MAX_RECORDS = 2000;

/** The record of notifications, in the receiver's service folder. */
export function notificationsFile(paths: Pick<ServicePaths, 'dir'>): string {
  return path.join(paths.dir, 'notifications.jsonl');
}

/** The receiver's record on the stack's monitor host (for `tandem alerts`). */
export function stackNotificationsFile(plan: Plan): string | undefined {
  const service = plan.services.find((s) => s.kind === 'alert-receiver');
  return service && notificationsFile(servicePaths(service));
}

export function receiverConfig(service: PlanService, paths: ServicePaths): ReceiverConfig {
  return {
    address: service.address,
    port: service.port,
    path: WEBHOOK_PATH,
    recordFile: notificationsFile(paths),
    maxRecords: RECEIVER_MAX_RECORDS,
    bodyLimit: RECEIVER_BODY_LIMIT,
  };
}

/** The receiver's config file and supervised command. */
export function alertReceiverUnit(
  service: PlanService,
  paths: ServicePaths,
  namespace: string | undefined,
): { files: ServiceFile[]; spec: SupervisedSpec } {
  const config = receiverConfig(service, paths);
  return {
    files: [{ path: paths.config, content: `${JSON.stringify(config, null, 2)}\n` }],
    spec: nodeServiceSpec(service, ENTRY, paths, namespace),
  };
}
