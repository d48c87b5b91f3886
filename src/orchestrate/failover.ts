/**
 * Database failover as `up` runs it: a sentinel beside each database (src/sentinel/),
 * holding or following the leader key in etcd. Every instance starts read-only and the
 * sentinels decide which one is writable; `up` only waits for that decision and then
 * sets up users, schema and migrations on whichever database the sentinels made primary.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServicePaths } from '../config/paths.ts';
import { hostOf } from '../config/resolve.ts';
import type { Plan, PlanService } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import type { SupervisedSpec } from '../hosts/supervise.ts';
import { sleep } from '../hosts/supervise.ts';
import { dbHostsOf, dbPaths, readOnlyOf } from './database/instance.ts';
import { replicaStatus } from './database/replication.ts';
import { mariadbPidFile } from '../render/mariadb.ts';
import { RESEED_PORT } from '../sentinel/reseed-plan.ts';
import { backupPauseMarker } from './backup.ts';
import { nodeServiceSpec } from './node-service.ts';

/** The project's root: the sentinel runs tandem's own code, with tandem's node_modules. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = path.join(ROOT, 'src', 'sentinel', 'main.ts');

/** Where a sentinel keeps the replication and backup passwords (mode 0600) and its state for `status`. */
export function sentinelFiles(paths: ServicePaths): {
  passwordFile: string;
  backupPasswordFile: string;
  stateFile: string;
} {
  return {
    passwordFile: path.join(paths.dir, 'replication-password'),
    backupPasswordFile: path.join(paths.dir, 'backup-password'),
    stateFile: path.join(paths.dir, 'state.json'),
  };
}

/** Where a database host keeps the binlogs of a diverged history, one dated folder per reseed. */
export function divergedBinlogsDir(hostDir: string): string {
  return path.join(hostDir, 'diverged');
}

/** The sentinel's config file (src/sentinel/config.ts reads it): addresses and paths, no secret. */
export function sentinelConfig(plan: Plan, service: PlanService, paths: ServicePaths): Record<string, unknown> {
  const etcd = plan.etcd;
  if (!etcd) throw new Error('a sentinel needs etcd in the plan (database.failover)');
  const db = dbPaths(plan, service.host);
  const files = sentinelFiles(paths);
  const pauseMarker = backupPauseMarker(plan, service.host);
  return {
    stack: plan.name,
    host: service.host,
    prefix: etcd.prefix,
    etcd: {
      endpoints: etcd.members.map((m) => `https://${m.address}:${etcd.clientPort}`),
      ca: etcd.tls.ca,
      cert: etcd.tls.clientCert,
      key: etcd.tls.clientKey,
    },
    db: {
      socket: db.socket,
      address: hostOf(plan, service.host).address,
      port: plan.db.port,
      pidFile: mariadbPidFile(db.data),
    },
    peers: dbHostsOf(plan).map((h) => ({
      host: h,
      address: hostOf(plan, h).address,
      port: plan.db.port,
    })),
    replication: { user: plan.db.users.replication, passwordFile: files.passwordFile },
    bootstrapPrimary: plan.db.primary,
    leaseTtlS: plan.db.leaseTtlS,
    tickMs: 100,
    stateFile: files.stateFile,
    reseed: {
      port: RESEED_PORT,
      dataDir: db.data,
      workDir: path.join(db.dir, 'reseed'),
      keepDir: divergedBinlogsDir(hostOf(plan, service.host).dir),
      defaultsFile: db.config,
      user: plan.db.users.backup,
      passwordFile: files.backupPasswordFile,
      retryMs: plan.db.reseedRetryS * 1000,
    },
    ...(plan.monitor && { metrics: { address: service.address, port: service.port } }),
    ...(pauseMarker && { backupPauseMarker: pauseMarker }),
  };
}

/** The supervised sentinel process: in its database host's namespace, from the project root. */
export function sentinelSpec(service: PlanService, paths: ServicePaths, namespace: string | undefined): SupervisedSpec {
  return nodeServiceSpec(service, ENTRY, paths, namespace);
}

/** The database hosts whose MariaDB accepts writes now (`@@read_only = 0`), over their sockets. */
export async function writableDatabases(plan: Plan): Promise<string[]> {
  const hosts = dbHostsOf(plan);
  const readOnly = await Promise.all(hosts.map((h) => readOnlyOf(plan, h, 3000).catch(() => undefined)));
  return hosts.filter((_, i) => readOnly[i] === false);
}

/** The Plan as it stands with `host` as the primary (the sentinels may have moved it). */
export function withPrimary(plan: Plan, host: string): Plan {
  if (host === plan.db.primary) return plan;
  const all = dbHostsOf(plan);
  return { ...plan, db: { ...plan.db, primary: host, replicas: all.filter((h) => h !== host) } };
}

/** Waits until exactly one database is writable: the one the sentinels made primary. */
export async function waitForPrimary(plan: Plan, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = await writableDatabases(plan);
    if (seen.length === 1) return seen[0]!;
    await sleep(100);
  }
  throw new TandemError(
    'TANDEM_NOT_READY',
    seen.length === 0
      ? `no database became primary within ${timeoutMs / 1000} s`
      : `${seen.join(' and ')} are both writable`,
    `see the sentinels' logs: ${dbHostsOf(plan)
      .map((h) => path.join(hostOf(plan, h).dir, 'sentinel', 'output.log'))
      .join(', ')}`,
  );
}

/** Waits until every other database replicates from `primary` (the sentinels attach them). */
export async function waitForReplicas(plan: Plan, primary: string, timeoutMs = 30_000): Promise<string[]> {
  const address = hostOf(plan, primary).address;
  const replicas = dbHostsOf(plan).filter((h) => h !== primary);
  const deadline = Date.now() + timeoutMs;
  let waiting = replicas;
  while (Date.now() < deadline) {
    const states = await Promise.all(
      waiting.map(async (h) => {
        const s = await replicaStatus(dbPaths(plan, h)).catch(() => undefined);
        return s?.masterHost === address && s.ioRunning && s.sqlRunning ? undefined : h;
      }),
    );
    waiting = states.filter((h): h is string => h !== undefined);
    if (waiting.length === 0) return replicas;
    await sleep(100);
  }
  throw new TandemError(
    'TANDEM_NOT_READY',
    `${waiting.join(', ')} did not start replicating from ${primary} within ${timeoutMs / 1000} s`,
    `see the sentinels' logs and ${waiting.map((h) => dbPaths(plan, h).log).join(', ')}`,
  );
}
