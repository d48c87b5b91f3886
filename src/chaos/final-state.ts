/**
 * The final state of a chaos run, read from every database node after healing, so that
 * a write acknowledged by the primary but missing on a replica (the node a failover
 * would promote) counts as lost too. Each replica first waits, bounded, until it has
 * applied the primary's last transaction; one that does not catch up is read anyway
 * and marked `behind`.
 */
import type { Plan } from '../config/types.ts';
import { dbPaths, lit, sql } from '../orchestrate/database.ts';
import type { FinalState, NodeState } from './history.ts';
import { writeBody } from './history.ts';

/** How long a node may take to answer (it may be restarting after the heal). */
const READ_WITHIN_MS = 30_000;
/** How long a replica may take to apply the primary's last transaction. */
const CATCH_UP_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `query` until it answers or the deadline passes; returns the rows or the last error. */
async function retrying<T>(deadline: number, query: (timeoutMs: number) => Promise<T>): Promise<T | Error> {
  let last = new Error('not tried');
  while (Date.now() < deadline) {
    try {
      return await query(Math.max(1000, Math.min(10_000, deadline - Date.now())));
    } catch (err) {
      last = err as Error;
      await sleep(500);
    }
  }
  return last;
}

async function readNode(plan: Plan, host: string, runId: string, deadline: number, waitFor?: string) {
  const paths = dbPaths(plan, host);
  let behind: boolean | undefined;
  if (waitFor !== undefined) {
    const waited = await retrying(deadline, (t) =>
      sql(paths, `SELECT MASTER_GTID_WAIT(${lit(waitFor)}, ${CATCH_UP_MS / 1000}) AS w`, t + CATCH_UP_MS),
    );
    behind = waited instanceof Error || waited[0]?.w !== '0';
  }
  const text = `SELECT uid, body FROM \`${plan.db.name}\`.posts WHERE body LIKE ${lit(`${writeBody(runId, '')}%`)}`;
  const rows = await retrying(deadline, (t) => sql(paths, text, t));
  const node: NodeState =
    rows instanceof Error
      ? { host, posts: [], error: rows.message }
      : { host, posts: rows.map((r) => ({ uid: r.uid ?? '', body: r.body ?? '' })) };
  return behind ? { ...node, behind } : node;
}

/** Every post this run wrote, on every database node (the primary first). */
export async function readFinalState(plan: Plan, runId: string): Promise<FinalState> {
  const deadline = Date.now() + READ_WITHIN_MS;
  const primary = plan.db.primary;
  const pos = await retrying(deadline, (t) => sql(dbPaths(plan, primary), 'SELECT @@gtid_binlog_pos AS pos', t));
  const waitFor = pos instanceof Error ? undefined : (pos[0]?.pos ?? '');
  const nodes = [await readNode(plan, primary, runId, deadline)];
  for (const replica of plan.db.replicas) nodes.push(await readNode(plan, replica, runId, deadline, waitFor));
  return { readAt: Date.now(), nodes };
}
