/**
 * Samplers that run beside the load: every database's `read_only` with the start and
 * end of each query (to catch two writable primaries: see `writableOverlaps`), each load balancer's view of each server (to know when it
 * marked a dead one down) and, on netns, which LB holds the floating IP. Each loop is
 * sequential per source, so a hung or dead source (a paused database, a killed LB)
 * delays or silences only its own samples.
 */
import type { Plan, PlanService } from '../config/types.ts';
import { backendStates, vipHolder } from '../orchestrate/lb.ts';
import { dbHostsOf, readOnlyOf } from './db-roles.ts';
import type { DbSample, LbSample, VipSample } from './history.ts';

export interface Sampling {
  readonly dbSamples: DbSample[];
  readonly lbSamples: LbSample[];
  readonly vipSamples: VipSample[];
  /** Every database host sampled (each must show up in dbSamples). */
  readonly dbHosts: readonly string[];
  /** Stops sampling and waits for the loops to end. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function startSampling(
  plan: Plan,
  opts: { dbEveryMs?: number; lbEveryMs?: number; vipEveryMs?: number } = {},
): Sampling {
  const dbEvery = opts.dbEveryMs ?? 200;
  const lbEvery = opts.lbEveryMs ?? 100;
  const vipEvery = opts.vipEveryMs ?? 100;
  const dbSamples: DbSample[] = [];
  const lbSamples: LbSample[] = [];
  const vipSamples: VipSample[] = [];
  let stopped = false;

  const dbLoop = async (host: string) => {
    while (!stopped) {
      const at = Date.now();
      try {
        const readOnly = await readOnlyOf(plan, host, Math.max(dbEvery * 4, 800));
        const end = Date.now();
        dbSamples.push(readOnly === undefined ? { at, end, host, up: false } : { at, end, host, up: true, readOnly });
      } catch {
        dbSamples.push({ at, end: Date.now(), host, up: false });
      }
      await sleep(Math.max(0, dbEvery - (Date.now() - at)));
    }
  };

  // One loop per LB, over a plan that names only that LB: a dead one fails alone.
  const lbLoop = async (lb: PlanService) => {
    const one: Plan = { ...plan, services: [lb] };
    while (!stopped) {
      const at = Date.now();
      try {
        const states = await backendStates(one);
        // The answer holds from some moment of the request on: stamp it when it came,
        // or a state change during a slow answer would look earlier than it happened.
        const seen = Date.now();
        for (const b of states) lbSamples.push({ at: seen, lb: b.lb, server: b.server, status: b.status });
      } catch {
        // This LB is down (kill-lb, kill-host): no view to record.
      }
      await sleep(Math.max(0, lbEvery - (Date.now() - at)));
    }
  };

  const vipLoop = async () => {
    while (!stopped) {
      const at = Date.now();
      vipSamples.push({ at, holder: (await vipHolder(plan).catch(() => undefined)) ?? null });
      await sleep(Math.max(0, vipEvery - (Date.now() - at)));
    }
  };

  const dbHosts = dbHostsOf(plan);
  const loops = [
    ...dbHosts.map(dbLoop),
    ...plan.services.filter((s) => s.kind === 'haproxy').map(lbLoop),
    ...(plan.lb.vip ? [vipLoop()] : []),
  ];
  return {
    dbSamples,
    lbSamples,
    vipSamples,
    dbHosts,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}
