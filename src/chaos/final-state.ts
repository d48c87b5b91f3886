/**
 * The final state of a chaos run, read from every database node after healing, so that
 * a write acknowledged by the primary but missing on a replica (the node a failover
 * would promote) counts as lost too. The primary is the node writable now (after a
 * failover, not the config's). Each replica first waits, bounded, until it has applied
 * the primary's last transaction; one that does not catch up is read anyway and marked
 * `behind`. Every node also gives its GTID position, a checksum of each of the app's
 * tables, `read_only` and (a replica) whether it replicates: all nodes must end the same.
 */
import type { Plan } from '../config/types.ts';
import { dbPaths, lit, replicaStatus, type Row, sql } from '../orchestrate/database.ts';
import { liveDbRoles } from './db-roles.ts';
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
  if (rows instanceof Error) return { host, posts: [], error: rows.message };
  const sameness = await retrying(deadline, (t) => samenessOf(plan, host, waitFor !== undefined, t));
  if (sameness instanceof Error) return { host, posts: [], error: sameness.message };
  const node: NodeState = { host, posts: rows.map((r) => ({ uid: r.uid ?? '', body: r.body ?? '' })), ...sameness };
  return behind ? { ...node, behind } : node;
}

/** `CHECKSUM TABLE` of every base table of the app's database, by table name. */
async function checksums(plan: Plan, host: string, timeoutMs: number): Promise<Record<string, string>> {
  const paths = dbPaths(plan, host);
  const tables = await sql(
    paths,
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ${lit(plan.db.name)} AND table_type = 'BASE TABLE' ORDER BY table_name`,
    timeoutMs,
  );
  if (tables.length === 0) return {};
  const quoted = tables.map((r) => `\`${plan.db.name}\`.\`${(r.t ?? '').replace(/`/g, '``')}\``);
  const rows: Row[] = await sql(paths, `CHECKSUM TABLE ${quoted.join(', ')}`, timeoutMs);
  return Object.fromEntries(rows.map((r) => [(r.Table ?? '').replace(`${plan.db.name}.`, ''), r.Checksum ?? '']));
}

/** What must be the same on every node (GTID position, checksums), and its role's state. */
async function samenessOf(plan: Plan, host: string, replica: boolean, timeoutMs: number) {
  const [row] = await sql(dbPaths(plan, host), 'SELECT @@gtid_current_pos AS gtid, @@read_only AS ro', timeoutMs);
  const status = replica ? await replicaStatus(dbPaths(plan, host)) : undefined;
  return {
    gtid: row?.gtid ?? '',
    checksums: await checksums(plan, host, timeoutMs),
    readOnly: row?.ro === '1',
    ...(status ? { replicating: status.ioRunning && status.sqlRunning } : {}),
  };
}

/** Every post this run wrote, on every database node (the one writable now first). */
export async function readFinalState(plan: Plan, runId: string): Promise<FinalState> {
  const deadline = Date.now() + READ_WITHIN_MS;
  const { primary, replicas } = await liveDbRoles(plan);
  const pos = await retrying(deadline, (t) => sql(dbPaths(plan, primary), 'SELECT @@gtid_binlog_pos AS pos', t));
  const waitFor = pos instanceof Error ? undefined : (pos[0]?.pos ?? '');
  const nodes = [await readNode(plan, primary, runId, deadline)];
  for (const replica of replicas) nodes.push(await readNode(plan, replica, runId, deadline, waitFor ?? ''));
  return { readAt: Date.now(), nodes };
}
