/**
 * Where the chaos load runs. Loopback hosting: here, in-process, to the LB's address.
 * netns hosting: in the `client` namespace, as a user would reach the site — through
 * the stack's DNS (`www.foobar.com` → the VIP) and HTTPS, trusting the stack's CA — by a
 * worker process (Node cannot enter a namespace in-process) that streams every
 * operation back as it completes.
 */
import { fileURLToPath } from 'node:url';
import type { Plan } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { runWorker } from '../hosts/worker.ts';
import type { Op } from './history.ts';
import { type LoadOptions, runLoad } from './traffic.ts';

const WORKER = fileURLToPath(new URL('./traffic-worker.ts', import.meta.url));

/** Slack beyond the load's own bounds before the worker is killed. */
const WORKER_GRACE_MS = 20_000;

export type WorkloadOptions = Omit<LoadOptions, 'url' | 'host' | 'onOp'> & {
  /**
   * Called once when the load starts sending (its duration counts from then). On netns
   * the worker process may take seconds to start on a loaded machine: faults are timed
   * from this, not from when the worker was asked for.
   */
  readonly onStart?: (at: number) => void;
};

/** The URL and Host header a user would use for this stack. */
export function entryOf(plan: Plan): { url: string; host: string } {
  return plan.client ? { url: plan.url, host: new URL(plan.url).hostname } : { url: plan.url, host: plan.domain };
}

/** Runs the bounded load from where a user stands; resolves with every operation. */
export async function runWorkload(plan: Plan, opts: WorkloadOptions): Promise<Op[]> {
  const entry = entryOf(plan);
  if (!plan.client?.namespace) {
    const { onStart, ...load } = opts;
    onStart?.(Date.now());
    return runLoad({ ...load, ...entry });
  }
  const { signal, onStart, ...rest } = opts;
  const ops: Op[] = [];
  let done = false;
  const exit = await runWorker({
    host: plan.client,
    script: WORKER,
    args: [JSON.stringify({ ...rest, ...entry })],
    env: plan.tls.enabled ? { NODE_EXTRA_CA_CERTS: plan.tls.caCert } : {},
    // The load stops by itself at durationMs; a write may take two client timeouts.
    timeoutMs: opts.durationMs + 2 * opts.timeoutMs + WORKER_GRACE_MS,
    ...(signal ? { signal } : {}),
    onLine: (line) => {
      if (!line.startsWith('{')) return;
      const record = JSON.parse(line) as Op | { done: number } | { started: number };
      if ('done' in record) done = true;
      else if ('started' in record) onStart?.(record.started);
      else ops.push(record);
    },
  });
  if (!done && !signal?.aborted) {
    throw new TandemError(
      'TANDEM_PROCESS_FAILED',
      `the load worker in ${plan.client.namespace} ${exit.timedOut ? 'did not finish in time and was killed' : `exited with ${exit.signal ?? `code ${exit.code}`}`} after ${ops.length} operation(s)${exit.stderr.trim() ? `:\n    ${exit.stderr.trim().split('\n').slice(-6).join('\n    ')}` : ''}`,
      'check that the stack is up (tandem status) and that the client resolves the site: ip netns exec <client namespace> curl --cacert "$(tandem ca)" <url>',
    );
  }
  return ops;
}
