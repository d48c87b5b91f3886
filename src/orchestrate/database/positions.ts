/** Role, GTID position and replication health of every database, for `status`. */
import type { Plan } from '../../config/types.ts';
import { dbPaths } from './instance.ts';
import { type ReplicaStatus, replicaStatus } from './replication.ts';
import { type Row, sql } from './sql.ts';

export interface DbPosition {
  readonly host: string;
  readonly role: 'primary' | 'replica';
  readonly up: boolean;
  readonly readOnly?: boolean;
  readonly gtid?: string;
  readonly replication?: ReplicaStatus;
  /** Transactions the replica has yet to apply (domain 0), from GTID positions. */
  readonly lagTransactions?: number;
  readonly semiSync?: boolean;
  /** The primary: semi-sync live (`Rpl_semi_sync_master_status`), not the switch. */
  readonly semiSyncLive?: boolean;
}

function seqOf(gtid: string | undefined): number | undefined {
  if (!gtid) return undefined;
  const part = gtid.split(',').find((p) => p.trim().startsWith('0-'));
  return part ? Number(part.trim().split('-')[2]) : undefined;
}

const VARIABLES =
  'SELECT @@gtid_binlog_pos AS binlog, @@gtid_slave_pos AS slave, @@read_only AS ro, @@rpl_semi_sync_master_enabled AS sm, @@rpl_semi_sync_slave_enabled AS ss';

interface NodeAnswer {
  readonly row?: Row;
  /** The primary's `Rpl_semi_sync_master_status` row. */
  readonly live?: Row;
  readonly replication?: ReplicaStatus;
}

/** One node's variables and, beside them, the primary's live semi-sync or a replica's threads. */
async function nodeAnswer(plan: Plan, host: string): Promise<NodeAnswer> {
  const paths = dbPaths(plan, host);
  const variables = sql(paths, VARIABLES, 5000);
  if (host === plan.db.primary) {
    const [[row], [live]] = await Promise.all([
      variables,
      sql(paths, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'", 5000),
    ]);
    return { row, live };
  }
  const [[row], replication] = await Promise.all([variables, replicaStatus(paths)]);
  return { row, replication };
}

/**
 * Role, GTID position and replication health of every database, asked of all at once
 * (a replica's lag is counted against the primary's position read in the same round).
 */
export async function dbPositions(plan: Plan): Promise<DbPosition[]> {
  const hosts = [plan.db.primary, ...plan.db.replicas];
  const answers = await Promise.all(hosts.map((host) => nodeAnswer(plan, host).catch(() => undefined)));
  const primarySeq = seqOf(answers[0]?.row?.binlog);
  return hosts.map((host, i): DbPosition => {
    const role = i === 0 ? 'primary' : 'replica';
    const answer = answers[i];
    if (!answer) return { host, role, up: false };
    const { row, live, replication } = answer;
    const common = { host, role, up: true, readOnly: row?.ro === '1' } as const;
    if (role === 'primary') {
      return { ...common, gtid: row?.binlog, semiSync: row?.sm === '1', semiSyncLive: live?.Value === 'ON' };
    }
    const seq = seqOf(row?.slave) ?? 0;
    return {
      ...common,
      gtid: row?.slave,
      replication,
      semiSync: row?.ss === '1',
      lagTransactions: primarySeq === undefined ? undefined : Math.max(0, primarySeq - seq),
    };
  });
}
