/**
 * The receiver's process config and its constants, apart from its Fastify server: `up`
 * and `status` need them, and importing the server would load Fastify into every CLI
 * command (~0.2 s of each start).
 */

/**
 * Alertmanager groups by alert name and host, so a notification carries a few alerts;
 * 256 KiB holds several hundred of them with their annotations.
 */
export const RECEIVER_BODY_LIMIT = 256 * 1024;

/** What orchestrate/alert-receiver.ts writes as the process's config. */
export interface ReceiverConfig {
  readonly address: string;
  readonly port: number;
  readonly path: string;
  readonly recordFile: string;
  readonly maxRecords: number;
  readonly bodyLimit: number;
}

/** Answers 200 once the receiver listens, like Prometheus' and Alertmanager's. */
export const RECEIVER_READY_PATH = '/-/ready';
