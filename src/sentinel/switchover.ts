/**
 * A planned switchover, as the CLI asks for it: write the request, and wait until the
 * target holds the leader key (or the primary's sentinel refuses).
 */
import { randomUUID } from 'node:crypto';
import type { EtcdClient } from '../etcd/client.ts';
import { TandemError } from '../errors.ts';
import { dbKeys, type LeaderValue, parseValue, type SwitchoverValue, type SyncValue } from './keys.ts';

export interface SwitchoverResult {
  readonly from: string;
  readonly to: string;
  readonly term: number;
  /** From the request to the new leader's key. */
  readonly ms: number;
}

/** Asks the primary's sentinel to hand over to `to` (by default the sync replica) and waits for it. */
export async function requestSwitchover(
  etcd: Pick<EtcdClient, 'get' | 'put' | 'delete'>,
  prefix: string,
  options: { to?: string; timeoutMs?: number } = {},
): Promise<SwitchoverResult> {
  const keys = dbKeys(prefix);
  const leader = parseValue<LeaderValue>(await etcd.get(keys.leader));
  const sync = parseValue<SyncValue>(await etcd.get(keys.sync));
  if (!leader) throw new TandemError('TANDEM_STATE', 'switchover: no database holds the leader key');
  const to = options.to ?? sync?.eligible ?? null;
  if (to === null) {
    throw new TandemError('TANDEM_STATE', 'switchover: no replica is in sync', 'wait until `tandem status` shows one');
  }
  if (to === leader.host) throw new TandemError('TANDEM_USAGE', `switchover: ${to} is already the primary`);
  const request: SwitchoverValue = { id: randomUUID(), from: leader.host, to, at: Date.now() };
  const started = performance.now();
  await etcd.put(keys.switchover, JSON.stringify(request));
  const timeoutMs = options.timeoutMs ?? 10_000;
  try {
    for (let attempt = 0; attempt < timeoutMs / 20 + 1 && performance.now() - started < timeoutMs; attempt++) {
      const now = parseValue<LeaderValue>(await etcd.get(keys.leader));
      if (now && now.host === to && now.term > leader.term) {
        return { from: leader.host, to, term: now.term, ms: Math.round(performance.now() - started) };
      }
      const current = parseValue<SwitchoverValue>(await etcd.get(keys.switchover));
      if (current?.id === request.id && current.refused) {
        throw new TandemError('TANDEM_STATE', `switchover to ${to} refused: ${current.refused}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new TandemError('TANDEM_NOT_READY', `switchover: ${to} did not take the leader key within ${timeoutMs} ms`);
  } finally {
    // The request is done with either way (the sentinel may have marked it refused).
    const current = parseValue<SwitchoverValue>(await etcd.get(keys.switchover));
    if (current?.id === request.id) await etcd.delete(keys.switchover);
  }
}
