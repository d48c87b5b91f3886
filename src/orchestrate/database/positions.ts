/** Role, GTID position and replication health of every database, for `status`. */
import type { Plan } from '../../config/types.ts';
import { dbPaths } from './instance.ts';
import { type ReplicaStatus, replicaStatus } from './replication.ts';
import { sql } from './sql.ts';

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

/** Role, GTID position and replication health of every database. */
export async function dbPositions(plan: Plan): Promise<DbPosition[]> {
  const out: DbPosition[] = [];
  let primarySeq: number | undefined;
  for (const host of [plan.db.primary, ...plan.db.replicas]) {
    const paths = dbPaths(plan, host);
    const role = host === plan.db.primary ? 'primary' : 'replica';
    try {
      const [row] = await sql(
        paths,
        'SELECT @@gtid_binlog_pos AS binlog, @@gtid_slave_pos AS slave, @@read_only AS ro, @@rpl_semi_sync_master_enabled AS sm, @@rpl_semi_sync_slave_enabled AS ss',
        5000,
      );
      if (role === 'primary') {
        primarySeq = seqOf(row?.binlog);
        const [live] = await sql(paths, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'", 5000);
        out.push({
          host,
          role,
          up: true,
          readOnly: row?.ro === '1',
          gtid: row?.binlog,
          semiSync: row?.sm === '1',
          semiSyncLive: live?.Value === 'ON',
        });
      } else {
        const replication = await replicaStatus(paths);
        const seq = seqOf(row?.slave) ?? 0;
        out.push({
          host,
          role,
          up: true,
          readOnly: row?.ro === '1',
          gtid: row?.slave,
          replication,
          semiSync: row?.ss === '1',
          lagTransactions: primarySeq === undefined ? undefined : Math.max(0, primarySeq - seq),
        });
      }
    } catch {
      out.push({ host, role, up: false });
    }
  }
  return out;
}
