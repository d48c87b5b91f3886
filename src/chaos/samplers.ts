/**
 * Samplers that run beside the load: every database's `read_only` (to catch two
 * writable primaries) and the load balancer's view of each server (to know when it
 * marked a dead one down). Each loop is sequential per source, so a hung source
 * (a paused database) delays only its own samples.
 */
import type { Plan } from '../config/types.ts';
import { dbPaths, sql } from '../orchestrate/database.ts';
import { backendStates } from '../orchestrate/lb.ts';
import type { DbSample, LbSample } from './history.ts';

export interface Sampling {
  readonly dbSamples: DbSample[];
  readonly lbSamples: LbSample[];
  /** Stops sampling and waits for the loops to end. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function startSampling(plan: Plan, opts: { dbEveryMs?: number; lbEveryMs?: number } = {}): Sampling {
  const dbEvery = opts.dbEveryMs ?? 200;
  const lbEvery = opts.lbEveryMs ?? 100;
  const dbSamples: DbSample[] = [];
  const lbSamples: LbSample[] = [];
  let stopped = false;

  const dbLoop = async (host: string) => {
    const paths = dbPaths(plan, host);
    while (!stopped) {
      const at = Date.now();
      try {
        const [row] = await sql(paths, 'SELECT @@read_only AS ro', Math.max(dbEvery * 4, 800));
        dbSamples.push({ at, host, up: true, readOnly: row?.ro === '1' });
      } catch {
        dbSamples.push({ at, host, up: false });
      }
      await sleep(Math.max(0, dbEvery - (Date.now() - at)));
    }
  };

  const lbLoop = async () => {
    while (!stopped) {
      const at = Date.now();
      try {
        for (const b of await backendStates(plan)) {
          lbSamples.push({ at, lb: b.lb, server: b.server, status: b.status });
        }
      } catch {
        // The LB itself is down (kill-lb): no view to record.
      }
      await sleep(Math.max(0, lbEvery - (Date.now() - at)));
    }
  };

  const dbHosts = [plan.db.primary, ...plan.db.replicas].filter((h) => h);
  const loops = [...dbHosts.map(dbLoop), ...(plan.services.some((s) => s.kind === 'haproxy') ? [lbLoop()] : [])];
  return {
    dbSamples,
    lbSamples,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}
