/**
 * The database watchdog used after healing: finds databases that run but answer nothing;
 * and the ones their supervisors restarted as hung on their own (liveness probe).
 */
import { servicePaths } from '../config/paths.ts';
import type { Plan, PlanService } from '../config/types.ts';
import { serviceRunning } from '../hosts/signals.ts';
import { readSupervisor } from '../hosts/supervise.ts';
import { sql } from '../orchestrate/database.ts';

/** How long a database may leave `SELECT 1` on its own socket unanswered before it counts as hung. */
export const HUNG_AFTER_MS = 4000;

/**
 * Databases whose engine runs but answers nothing on its own socket, watched for
 * `watchMs` (at least one probe each). Found with MariaDB 10.11.18: after a partition
 * between a semi-sync primary and its replica heals, the replica reconnects, the new
 * dump thread waits for the ack receiver to drop the old one (`kill_zombie_dump_threads`
 * → `Ack_receiver::remove_slave`) while the ack receiver sits in poll() with no timeout:
 * the primary accepts no connection and answers no query, for good. Nothing but a
 * restart brings it back, and `up()` would only wait for readiness and give up.
 */
export async function hungDatabases(plan: Plan, watchMs: number): Promise<PlanService[]> {
  const dbs = plan.services.filter((s) => s.kind === 'mariadb' && serviceRunning(servicePaths(s)));
  const hung = new Set<PlanService>();
  const deadline = Date.now() + watchMs;
  do {
    await Promise.all(
      dbs
        .filter((s) => !hung.has(s))
        .map(async (s) => {
          const ok = await sql(servicePaths(s), 'SELECT 1', HUNG_AFTER_MS)
            .then(() => true)
            .catch((err: Error) => !/killed by SIGTERM|timed out/i.test(err.message));
          if (!ok) hung.add(s);
        }),
    );
    if (Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  } while (Date.now() < deadline && hung.size < dbs.length);
  return [...hung];
}

/** How many times each database's supervisor has restarted it as hung, by service id. */
export function livenessRestartCounts(plan: Plan): Map<string, number> {
  const dbs = plan.services.filter((s) => s.kind === 'mariadb');
  return new Map(dbs.map((s) => [s.id, readSupervisor(servicePaths(s))?.liveness?.count ?? 0]));
}

/**
 * Databases their supervisors restarted as hung since `before` was read: the finding
 * `hungDatabases` would have made had the supervisor not been quicker.
 */
export function restartedAsHung(plan: Plan, before: ReadonlyMap<string, number>): string[] {
  return [...livenessRestartCounts(plan)].filter(([id, n]) => n > (before.get(id) ?? 0)).map(([id]) => id);
}
