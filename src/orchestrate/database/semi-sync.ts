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
  let changed = false;
  for (const replica of plan.db.replicas) {
    const paths = dbPaths(plan, replica);
    const [row] = await sql(paths, 'SELECT @@rpl_semi_sync_slave_enabled AS on_');
    if (row?.on_ === '1') continue;
    await sql(paths, 'SET GLOBAL rpl_semi_sync_slave_enabled=ON; STOP SLAVE IO_THREAD; START SLAVE IO_THREAD;');
    changed = true;
  }
  const primary = dbPaths(plan, plan.db.primary);
  const [row] = await sql(primary, 'SELECT @@rpl_semi_sync_master_enabled AS on_');
  if (row?.on_ !== '1') {
    await sql(primary, 'SET GLOBAL rpl_semi_sync_master_enabled=ON');
    changed = true;
  }
  await waitForSemiSync(plan);
  return changed;
}

/** Waits until the primary counts an acknowledging replica with semi-sync ON (live state, not the switch). */
export async function waitForSemiSync(plan: Plan, timeoutMs = 10_000): Promise<void> {
  const primary = dbPaths(plan, plan.db.primary);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const rows = await sql(
      primary,
      "SHOW STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_clients', 'Rpl_semi_sync_master_status')",
    ).catch(() => []);
    const value = (name: string) => rows.find((r) => r.Variable_name === name)?.Value;
    if (Number(value('Rpl_semi_sync_master_clients') ?? 0) >= 1 && value('Rpl_semi_sync_master_status') === 'ON') {
      return;
    }
    await sleep(100);
  }
  throw new TandemError(
    'TANDEM_NOT_READY',
    `semi-sync: no replica acknowledged on ${plan.db.primary} within ${timeoutMs / 1000} s (Rpl_semi_sync_master_clients = 0)`,
    `see the replicas' logs (${plan.db.replicas.map((r) => dbPaths(plan, r).log).join(', ')})`,
  );
}
