/**
 * `tandem switchover` and `tandem failover --force`: a person moves the primary role. Both
 * only write a request or a decision into etcd; the sentinels carry it out (fence, catch
 * up, hand the leader key over), so a person and the automatic failover never race.
 */
import type { Plan } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { sleep } from '../hosts/supervise.ts';
import { dbKeys, type LeaderValue, type MemberValue, parseValue, type SyncValue } from '../sentinel/keys.ts';
import { requestSwitchover } from '../sentinel/switchover.ts';
import { dbHostsOf, dbPaths } from './database/instance.ts';
import { sql } from './database/sql.ts';
import { type EtcdKv, etcdKv } from './etcd-kv.ts';

export interface HandOver {
  readonly from: string | null;
  readonly to: string;
  readonly term: number;
  /** From the request to the new primary's leader key. */
  readonly ms: number;
  /** failover --force: transactions the old primary had that `to` lacks (null: not known). */
  readonly lostTransactions?: number | null;
  readonly summary: string;
}

interface Options {
  readonly to: string | undefined;
  readonly log: (line: string) => void;
}

function requireFailover(plan: Plan, to: string | undefined): NonNullable<Plan['etcd']> {
  if (!plan.db.failover || !plan.etcd) {
    throw new TandemError(
      'TANDEM_USAGE',
      'this stack has no database failover (database.failover is off)',
      'turn it on in tandem.config.ts (it needs two database hosts) and run `tandem up`',
    );
  }
  if (to !== undefined && !dbHostsOf(plan).includes(to)) {
    throw new TandemError(
      'TANDEM_USAGE',
      `--to ${to}: not a database host`,
      `database hosts: ${dbHostsOf(plan).join(', ')}`,
    );
  }
  return plan.etcd;
}

/** A planned hand-over to `to` (default: the replica in sync): writes pause briefly, none fail. */
export async function switchover(plan: Plan, options: Options): Promise<HandOver> {
  const etcd = requireFailover(plan, options.to);
  options.log(`tandem: asking the primary's sentinel to hand over${options.to ? ` to ${options.to}` : ''}…`);
  const kv = etcdKv(plan);
  const r = await requestSwitchover(kv, etcd.prefix, options.to ? { to: options.to } : {}).finally(() => kv.close());
  return {
    ...r,
    summary: `tandem: ${r.to} is the primary (term ${r.term}), was ${r.from}; the hand-over took ${r.ms} ms`,
  };
}

/** The GTID sequence of domain 0 in a position like `0-1-42,1-3-7`. */
function seqOf(position: string | undefined): number | undefined {
  const part = position?.split(',').find((p) => p.trim().startsWith('0-'));
  return part === undefined ? undefined : Number(part.trim().split('-')[2]);
}

/** The old primary's last GTID position: from its database when it answers, else from its sentinel's key. */
async function lastPosition(plan: Plan, host: string, member: MemberValue | null): Promise<string | undefined> {
  try {
    const [row] = await sql(dbPaths(plan, host), 'SELECT @@gtid_binlog_pos AS pos', 2000);
    if (row?.pos !== undefined) return row.pos;
  } catch {}
  return member?.gtidBinlogPos;
}

/**
 * Promotes `to` although no replica is known to hold every acknowledged write: for a
 * person, when the primary is gone and the sentinels will not promote by themselves.
 * Refused while a primary holds the leader key (that is a switchover). Says how many
 * transactions are lost when it can know.
 */
export async function forceFailover(plan: Plan, options: Options): Promise<HandOver> {
  const etcd = requireFailover(plan, options.to);
  const kv = etcdKv(plan);
  try {
    return await promoteForced(plan, etcd, kv, options);
  } finally {
    kv.close();
  }
}

async function promoteForced(
  plan: Plan,
  etcd: NonNullable<Plan['etcd']>,
  kv: EtcdKv,
  options: Options,
): Promise<HandOver> {
  const keys = dbKeys(etcd.prefix);
  const leader = parseValue<LeaderValue>(await kv.get(keys.leader));
  if (leader) {
    throw new TandemError(
      'TANDEM_STATE',
      `${leader.host} is the primary and holds the leader key`,
      `for a planned change use \`tandem switchover${options.to ? ` --to ${options.to}` : ''}\``,
    );
  }
  const sync = parseValue<SyncValue>(await kv.get(keys.sync));
  const members = new Map<string, MemberValue>();
  for (const host of dbHostsOf(plan)) {
    const m = parseValue<MemberValue>(await kv.get(keys.member(host)));
    if (m) members.set(host, m);
  }
  const old = sync?.primary ?? null;
  // The replica with the most transactions, unless the person named one.
  const candidates = [...members.values()].filter((m) => m.host !== old && m.role !== 'diverged');
  const to =
    options.to ?? candidates.sort((a, b) => (seqOf(b.gtidSlavePos) ?? 0) - (seqOf(a.gtidSlavePos) ?? 0))[0]?.host;
  if (!to) throw new TandemError('TANDEM_STATE', 'no live replica to promote (no sentinel reports one)');
  if (!members.has(to)) {
    throw new TandemError('TANDEM_STATE', `${to}'s sentinel does not report in etcd: it cannot be promoted now`);
  }
  const oldSeq = old ? seqOf(await lastPosition(plan, old, members.get(old) ?? null)) : undefined;
  const newSeq = seqOf(members.get(to)!.gtidSlavePos);
  const lost = oldSeq === undefined || newSeq === undefined ? null : Math.max(0, oldSeq - newSeq);
  options.log(
    lost === null
      ? `tandem: promoting ${to}; how many transactions ${old ?? 'the old primary'} had beyond it cannot be known`
      : `tandem: promoting ${to}; ${lost} transaction(s) of ${old} that ${to} lacks will be lost`,
  );
  const started = performance.now();
  const term = sync?.term ?? 0;
  const forced: SyncValue & { forcedBy: string } = {
    primary: old ?? to,
    term,
    eligible: to,
    forcedBy: 'tandem failover --force',
  };
  await kv.put(keys.sync, JSON.stringify(forced));
  for (let i = 0; i < 200; i++) {
    const now = parseValue<LeaderValue>(await kv.get(keys.leader));
    if (now?.host === to) {
      const ms = Math.round(performance.now() - started);
      return {
        from: old,
        to,
        term: now.term,
        ms,
        lostTransactions: lost,
        summary: `tandem: ${to} is the primary (term ${now.term}) after a forced failover in ${ms} ms${lost === null ? '' : `; ${lost} transaction(s) lost`}`,
      };
    }
    await sleep(50);
  }
  throw new TandemError(
    'TANDEM_NOT_READY',
    `${to} did not take the leader key within 10 s`,
    `see its sentinel's log: ${dbPaths(plan, to).dir.replace(/mariadb$/, 'sentinel')}/output.log`,
  );
}
