/**
 * Runs the network faults' commands (nft, tc, ip; built in src/chaos/network.ts) inside
 * a host's namespace, for `tandem chaos` (partition, slow link, a host's link cut).
 */
import type { PlanHost } from '../config/types.ts';
import { inNamespace } from './netns.ts';
import { run } from './process.ts';

/**
 * Runs a network-fault command (nft, tc, ip) inside the host's namespace, or in the root
 * namespace for `host: null`. With `allowFail`, a failure (e.g. "no such table" while
 * healing what is already healed) returns false instead of throwing.
 */
export async function runNetworkCommand(
  host: Pick<PlanHost, 'namespace'> | null,
  argv: readonly string[],
  opts: { input?: string; allowFail?: boolean } = {},
): Promise<{ ok: boolean; stdout: string }> {
  try {
    const { stdout } = await run(host ? inNamespace(host, argv) : argv, {
      timeoutMs: 10_000,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
    return { ok: true, stdout };
  } catch (err) {
    if (opts.allowFail) return { ok: false, stdout: '' };
    throw err;
  }
}
