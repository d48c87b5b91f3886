/** `status`: every host and service, the load balancer's view, and the databases. */
import type { Plan, PlanService } from '../config/types.ts';
import { type LivenessRestarts, readSupervisor } from '../hosts/supervise.ts';
import { type DbPosition, dbPositions } from './database.ts';
import { type EtcdStatus, etcdStatus } from './etcd.ts';
import { type BackendServerState, backendStates, vipHolder } from './lb.ts';
import { isReady, type ServiceUnit, unitOf } from './services.ts';
import { writableDatabases, withPrimary, sentinelFiles } from './failover.ts';
import { etcdKv } from './etcd-kv.ts';
import { dbKeys, type LeaderValue, parseValue, type SyncValue } from '../sentinel/keys.ts';
import type { SentinelState } from '../sentinel/sentinel.ts';
import type { ArchiverState } from '../backup/archiver-state.ts';
import { archiverFiles } from './binlog-archiver.ts';
import type { ReseedRecord } from '../sentinel/reseed-plan.ts';
import { servicePaths } from '../config/paths.ts';
import fs from 'node:fs';
import { type BackupStatus, backupStatus } from './backup.ts';

export interface ServiceStatus {
  readonly id: string;
  readonly kind: string;
  readonly address: string;
  readonly port: number;
  /** running (and answering), starting, backoff (crashed, restarting), stopped */
  readonly state: 'running' | 'unready' | 'backoff' | 'stopped';
  readonly pid: number | null;
  readonly restarts: number;
  /** Of `restarts`, those its supervisor made because it ran but answered nothing (hung). */
  readonly livenessRestarts: LivenessRestarts | null;
}

export interface StackStatus {
  readonly name: string;
  readonly url: string;
  readonly hosting: string;
  readonly hosts: readonly {
    readonly name: string;
    readonly address: string;
    readonly roles: readonly string[];
    readonly services: readonly ServiceStatus[];
  }[];
  readonly lb: {
    readonly backends: readonly BackendServerState[];
    /** netns: the floating IP and the LB holding it (null: nobody — the site is down). */
    readonly vip: { readonly address: string; readonly holder: string | null } | null;
  };
  readonly db: {
    /** The primary now: with failover, the holder of the leader key (else the writable one). */
    readonly primary: string;
    /** Database failover: who leads, in which term, which replica may be promoted; null when off. */
    readonly failover: FailoverStatus | null;
    readonly replication: { readonly running: boolean; readonly lagTransactions: number | null };
    readonly instances: readonly DbPosition[];
  };
  /** etcd's members, their health, the leader and the raft term; null when failover is off. */
  readonly etcd: EtcdStatus | null;
  /** The monitor host and where its UIs answer (from the machine running tandem); null: nothing watches the stack. */
  readonly monitor: MonitorStatus | null;
  /** The backup host, the last backup and its drill; null: nothing backs the stack up (issue 10). */
  readonly backup: BackupStatus | null;
  /** The binlog archive on the backup host (issue 10); null: the stack has none. */
  readonly archive?: ArchiveStatus | null;
}

export interface ArchiveStatus {
  readonly host: string;
  readonly dir: string;
  /** The archiver's last report; null while it has written none. */
  readonly state: ArchiverState | null;
  /** Milliseconds since that report. */
  readonly updatedAgoMs: number | null;
}

/** The archiver's state file, as it last wrote it. */
function archiveStatus(plan: Plan): ArchiveStatus | null {
  const svc = plan.services.find((s) => s.kind === 'binlog-archiver');
  if (!svc || !plan.backup) return null;
  let state: ArchiverState | null = null;
  try {
    state = JSON.parse(fs.readFileSync(archiverFiles(servicePaths(svc)).stateFile, 'utf8')) as ArchiverState;
  } catch {}
  return {
    host: svc.host,
    dir: plan.backup.archiveDir,
    state,
    updatedAgoMs: state ? Date.now() - state.updatedAt : null,
  };
}

export interface MonitorStatus {
  readonly host: string;
  readonly prometheus: string;
  readonly alertmanager: string;
}

function monitorStatus(plan: Plan): MonitorStatus | null {
  const m = plan.monitor;
  if (!m) return null;
  return {
    host: m.host,
    prometheus: `http://${m.address}:${m.prometheusPort}/`,
    alertmanager: `http://${m.address}:${m.alertmanagerPort}/`,
  };
}

export interface FailoverStatus {
  /** The database host holding the leader key; null: none (a failover is under way, or cannot happen). */
  readonly leader: string | null;
  readonly term: number | null;
  /** The replica known to hold every acknowledged write: the only one the sentinels would promote. */
  readonly eligible: string | null;
  /** Each sentinel's own report (its state file). */
  readonly sentinels: readonly {
    readonly host: string;
    readonly role: string | null;
    readonly fenced: string | null;
    readonly diverged: string | null;
    /** The last reseed of this database after a divergence (or the one under way). */
    readonly reseed: ReseedRecord | null;
    readonly notPromoted: string | null;
    readonly etcdOk: boolean | null;
    readonly updatedAgoMs: number | null;
  }[];
  /** etcd could not be read (no quorum reachable): leader/term/eligible are unknown. */
  readonly error: string | null;
}

/** The leader and sync keys from etcd, and each sentinel's state file. */
async function failoverStatus(plan: Plan): Promise<FailoverStatus> {
  const keys = dbKeys(plan.etcd!.prefix);
  let leader: LeaderValue | null = null;
  let sync: SyncValue | null = null;
  let error: string | null = null;
  const kv = etcdKv(plan);
  try {
    leader = parseValue<LeaderValue>(await kv.get(keys.leader));
    sync = parseValue<SyncValue>(await kv.get(keys.sync));
  } catch (err) {
    error = (err as Error).message;
  } finally {
    kv.close();
  }
  const sentinels = plan.services
    .filter((s) => s.kind === 'sentinel')
    .map((s) => {
      let state: Partial<SentinelState> = {};
      try {
        state = JSON.parse(fs.readFileSync(sentinelFiles(servicePaths(s)).stateFile, 'utf8')) as SentinelState;
      } catch {}
      return {
        host: s.host,
        role: state.role ?? null,
        fenced: state.fenced ? `${state.fenced.how} at ${new Date(state.fenced.at).toISOString()}` : null,
        diverged: state.diverged ?? null,
        reseed: state.reseed ?? null,
        notPromoted: state.notPromoted ?? null,
        etcdOk: state.etcdOk ?? null,
        updatedAgoMs: state.updatedAt ? Date.now() - state.updatedAt : null,
      };
    });
  return {
    leader: leader?.host ?? null,
    term: leader?.term ?? sync?.term ?? null,
    eligible: sync?.eligible ?? null,
    sentinels,
    error,
  };
}

/**
 * Status probes every service at once: on a loaded machine one probe may miss its 1 s
 * deadline while the service is fine. Unready means two probes in a row failed.
 */
async function readyTwice(plan: Plan, unit: ServiceUnit): Promise<boolean> {
  const probe = () => isReady(plan, unit).catch(() => false);
  return (await probe()) || (await probe());
}

async function serviceStatus(plan: Plan, svc: PlanService): Promise<ServiceStatus> {
  const unit = unitOf(plan, svc);
  const sup = readSupervisor(unit.paths);
  let state: ServiceStatus['state'] = 'stopped';
  if (sup?.state === 'backoff') state = 'backoff';
  else if (sup) state = (await readyTwice(plan, unit)) ? 'running' : 'unready';
  return {
    id: svc.id,
    kind: svc.kind,
    address: svc.address,
    port: svc.port,
    state,
    pid: sup?.pid ?? null,
    restarts: sup?.restarts ?? 0,
    livenessRestarts: sup?.liveness ?? null,
  };
}

/** The sentinels' view (with failover), then every node's position against the primary it names. */
async function databaseStatus(plan: Plan) {
  const failover = plan.db.failover && plan.etcd ? await failoverStatus(plan) : null;
  // With failover the primary is whoever the sentinels made it, not the config's first one.
  const primary = failover?.leader ?? (plan.db.failover ? (await writableDatabases(plan))[0] : undefined);
  const live = primary ? withPrimary(plan, primary) : plan;
  return { failover, live, instances: await dbPositions(live) };
}

export async function status(plan: Plan): Promise<StackStatus> {
  // Every part asked at once: each waits on engines, not on the others.
  const [services, backends, database, vip, etcd] = await Promise.all([
    Promise.all(plan.services.map((svc) => serviceStatus(plan, svc))),
    backendStates(plan).catch(() => []),
    databaseStatus(plan),
    plan.lb.vip ? vipHolder(plan) : undefined,
    plan.etcd ? etcdStatus(plan) : null,
  ]);
  const { failover, live, instances } = database;
  const replicas = instances.filter((i) => i.role === 'replica');
  const lags = replicas.map((r) => r.lagTransactions).filter((n): n is number => n !== undefined);
  return {
    name: plan.name,
    url: plan.url,
    hosting: plan.hosting,
    hosts: [...plan.hosts, ...(plan.client ? [plan.client] : [])].map((h) => ({
      name: h.name,
      address: h.address,
      roles: h.roles,
      services: services.filter((s) => s.id.startsWith(`${h.name}/`)),
    })),
    lb: { backends, vip: plan.lb.vip ? { address: plan.lb.vip, holder: vip ?? null } : null },
    db: {
      primary: live.db.primary,
      failover,
      replication: {
        running: replicas.length > 0 && replicas.every((r) => r.replication?.ioRunning && r.replication.sqlRunning),
        lagTransactions: lags.length === replicas.length && lags.length > 0 ? Math.max(...lags) : null,
      },
      instances,
    },
    etcd,
    monitor: monitorStatus(plan),
    backup: backupStatus(plan),
    archive: archiveStatus(plan),
  };
}
