/** Semi-synchronous replication with the lossless wait point. */
import type { Plan } from '../../config/types.ts';
import { TandemError } from '../../errors.ts';
import { sleep } from '../../hosts/supervise.ts';
import { dbPaths } from './instance.ts';
import { sql } from './sql.ts';

/**
 * The option files turn semi-sync on (with no wait while no replica is connected);
 * this step turns it on in a server started from an older file, restarts the replicas'
 * IO threads so they register as semi-sync, and checks that the primary counts an
 * acknowledging replica.
 */
export async function enableSemiSync(plan: Plan): Promise<boolean> {
  if (!plan.db.semiSync || plan.db.replicas.length === 0) return false;
  const primary = dbPaths(plan, plan.db.primary);
  // Every server asked at once: on a second `up` this one round is the whole step.
  const [acknowledged, ...replicasOn] = await Promise.all([
    semiSyncLive(plan).catch(() => false),
    ...plan.db.replicas.map(async (replica) => {
      const [row] = await sql(dbPaths(plan, replica), 'SELECT @@rpl_semi_sync_slave_enabled AS on_');
      return row?.on_ === '1';
    }),
  ]);
  if (acknowledged && replicasOn.every(Boolean)) return false;
  let changed = false;
  for (const [i, replica] of plan.db.replicas.entries()) {
    if (replicasOn[i]) continue;
    await sql(
      dbPaths(plan, replica),
      'SET GLOBAL rpl_semi_sync_slave_enabled=ON; STOP SLAVE IO_THREAD; START SLAVE IO_THREAD;',
    );
    changed = true;
  }
  const [row] = await sql(primary, 'SELECT @@rpl_semi_sync_master_enabled AS on_');
  if (row?.on_ !== '1') {
    await sql(primary, 'SET GLOBAL rpl_semi_sync_master_enabled=ON');
    changed = true;
  }
  await waitForSemiSync(plan);
  return changed;
}

/** The primary counts an acknowledging replica with semi-sync ON (which needs it enabled). */
async function semiSyncLive(plan: Plan): Promise<boolean> {
  const rows = await sql(
    dbPaths(plan, plan.db.primary),
    "SHOW STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_clients', 'Rpl_semi_sync_master_status')",
  );
  const value = (name: string) => rows.find((r) => r.Variable_name === name)?.Value;
  return Number(value('Rpl_semi_sync_master_clients') ?? 0) >= 1 && value('Rpl_semi_sync_master_status') === 'ON';
}

/** Waits until the primary counts an acknowledging replica with semi-sync ON (live state, not the switch). */
export async function waitForSemiSync(plan: Plan, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await semiSyncLive(plan).catch(() => false)) return;
    await sleep(100);
  }
  throw new TandemError(
    'TANDEM_NOT_READY',
    `semi-sync: no replica acknowledged on ${plan.db.primary} within ${timeoutMs / 1000} s (Rpl_semi_sync_master_clients = 0)`,
    `see the replicas' logs (${plan.db.replicas.map((r) => dbPaths(plan, r).log).join(', ')})`,
  );
}
