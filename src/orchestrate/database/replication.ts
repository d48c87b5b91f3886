/** GTID replication: a replica's state, and attaching a replica to the primary. */
import type { ServicePaths } from '../../config/paths.ts';
import { hostOf } from '../../config/resolve.ts';
import type { Plan } from '../../config/types.ts';
import { TandemError } from '../../errors.ts';
import type { Secrets } from '../../hosts/secrets.ts';
import { sleep } from '../../hosts/supervise.ts';
import { dbPaths } from './instance.ts';
import { lit, sql } from './sql.ts';

export interface ReplicaStatus {
  readonly configured: boolean;
  readonly ioRunning: boolean;
  readonly sqlRunning: boolean;
  readonly masterHost: string;
  readonly lastError: string;
  readonly gtidIoPos: string;
}

export async function replicaStatus(paths: ServicePaths): Promise<ReplicaStatus> {
  const row = (await sql(paths, 'SHOW SLAVE STATUS'))[0];
  if (!row)
    return { configured: false, ioRunning: false, sqlRunning: false, masterHost: '', lastError: '', gtidIoPos: '' };
  return {
    configured: true,
    ioRunning: row.Slave_IO_Running === 'Yes',
    sqlRunning: row.Slave_SQL_Running === 'Yes',
    masterHost: row.Master_Host ?? '',
    lastError: [row.Last_IO_Error, row.Last_SQL_Error].filter(Boolean).join('; '),
    gtidIoPos: row.Gtid_IO_Pos ?? '',
  };
}

/** The statements that point a replica at the primary with GTID and start it. Pure. */
export function attachStatements(plan: Plan, replicationPassword: string): string[] {
  const primary = hostOf(plan, plan.db.primary);
  return [
    'STOP SLAVE',
    `CHANGE MASTER TO MASTER_HOST=${lit(primary.address)}, MASTER_PORT=${plan.db.port}, MASTER_USER=${lit(plan.db.users.replication)}, MASTER_PASSWORD=${lit(replicationPassword)}, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`,
    'START SLAVE',
  ];
}

/** Points a replica at the primary with GTID and starts it (idempotent). */
export async function attachReplica(
  plan: Plan,
  replica: string,
  secrets: Pick<Secrets, 'dbReplicationPassword'>,
): Promise<boolean> {
  const paths = dbPaths(plan, replica);
  const status = await replicaStatus(paths);
  const primaryAddress = hostOf(plan, plan.db.primary).address;
  if (status.configured && status.masterHost === primaryAddress && status.ioRunning && status.sqlRunning) return false;
  await sql(paths, `${attachStatements(plan, secrets.dbReplicationPassword).join(';\n')};`);
  const deadline = Date.now() + 20_000;
  let last = await replicaStatus(paths);
  while (!(last.ioRunning && last.sqlRunning)) {
    if (Date.now() > deadline) {
      throw new TandemError(
        'TANDEM_NOT_READY',
        `replication on ${replica} did not start: ${last.lastError || 'threads not running'}`,
        `see ${paths.log}`,
      );
    }
    await sleep(100);
    last = await replicaStatus(paths);
  }
  return true;
}
