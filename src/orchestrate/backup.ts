/**
 * What running backups means (issue 10): a backup source beside each database and the
 * backup agent on the backup host, both tandem's own Node services (src/backup/); and
 * the client side of `tandem backup`, `tandem backups` and `status`, which ask the agent
 * (signed with the stack's backup token) or read the manifests on the backup host.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { type ServicePaths, servicePaths } from '../config/paths.ts';
import { hostOf } from '../config/resolve.ts';
import type { Plan, PlanService } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { readStoredSecrets, type Secrets } from '../hosts/secrets.ts';
import type { SupervisedSpec } from '../hosts/supervise.ts';
import { ROOT } from '../prebuilt.mjs';
import { AUTH_HEADER, backupToken, signRequest } from '../backup/auth.ts';
import type { BackupKind, BackupManifest } from '../backup/manifest.ts';
import type { BackupSourceConfig } from '../backup/source.ts';
import type { BackupAgentConfig } from '../backup/take.ts';
import { readManifests } from '../backup/store.ts';
import { dbPaths } from './database/instance.ts';
import { nodeServiceSpec } from './node-service.ts';
import type { ServiceFile } from './services.ts';

const SOURCE_ENTRY = path.join(ROOT, 'src', 'backup', 'source-main.ts');
const AGENT_ENTRY = path.join(ROOT, 'src', 'backup', 'agent-main.ts');

/** A backup (and its drill) may take this long: ~1 GiB at the measured rates takes a few minutes. */
const BACKUP_TIMEOUT_S = 3600;
/** A replica this far behind is not used: the backup comes from the primary. */
const MAX_LAG_S = 10;

function backupPlan(plan: Plan) {
  if (!plan.backup) throw new Error('the plan has no backup host');
  return plan.backup;
}

function sourceFiles(paths: ServicePaths) {
  return {
    passwordFile: path.join(paths.dir, 'backup-password'),
    tokenFile: path.join(paths.dir, 'token'),
    pauseMarker: path.join(paths.dir, 'sql-thread-paused'),
  };
}

/**
 * The file the backup source on `host` keeps while it holds the replica's SQL thread
 * stopped; that host's sentinel reads it (failover.ts). Undefined: no source there.
 */
export function backupPauseMarker(plan: Plan, host: string): string | undefined {
  const source = plan.services.find((s) => s.kind === 'backup-source' && s.host === host);
  return source && sourceFiles(servicePaths(source)).pauseMarker;
}

/** The backup source beside `service`'s database: config, the backup user's password and the token (0600). */
export function backupSourceUnit(
  plan: Plan,
  service: PlanService,
  paths: ServicePaths,
  namespace: string | undefined,
  secrets?: Pick<Secrets, 'dbBackupPassword' | 'backupKey'>,
): { files: ServiceFile[]; spec: SupervisedSpec } {
  const backup = backupPlan(plan);
  const db = dbPaths(plan, service.host);
  const files = sourceFiles(paths);
  const config: BackupSourceConfig = {
    host: service.host,
    address: service.address,
    port: service.port,
    agentAddress: backup.address,
    socket: db.socket,
    defaultsFile: db.config,
    user: plan.db.users.backup,
    passwordFile: files.passwordFile,
    tokenFile: files.tokenFile,
    workDir: path.join(paths.dir, 'work'),
    pauseMarker: files.pauseMarker,
    schema: plan.db.name,
    timeoutS: BACKUP_TIMEOUT_S,
  };
  return {
    files: [
      ...(secrets
        ? [
            { path: files.passwordFile, content: secrets.dbBackupPassword, mode: 0o600 },
            { path: files.tokenFile, content: backupToken(secrets.backupKey), mode: 0o600 },
          ]
        : []),
      { path: paths.config, content: `${JSON.stringify(config, null, 2)}\n` },
    ],
    spec: nodeServiceSpec(service, SOURCE_ENTRY, paths, namespace),
  };
}

/** The backup agent on the backup host: config and the backup key (0600). */
export function backupAgentUnit(
  plan: Plan,
  service: PlanService,
  paths: ServicePaths,
  namespace: string | undefined,
  secrets?: Pick<Secrets, 'backupKey'>,
): { files: ServiceFile[]; spec: SupervisedSpec } {
  const backup = backupPlan(plan);
  const keyFile = path.join(paths.dir, 'backup-key');
  const config: BackupAgentConfig = {
    host: service.host,
    address: service.address,
    port: service.port,
    dir: backup.dir,
    workDir: path.join(paths.dir, 'drills'),
    keyFile,
    schema: plan.db.name,
    sources: plan.services
      .filter((s) => s.kind === 'backup-source')
      .map((s) => ({ host: s.host, address: s.address, port: s.port })),
    maxLagS: MAX_LAG_S,
    timeoutS: BACKUP_TIMEOUT_S,
    fullEveryS: backup.fullEveryS,
    incrementalEveryS: backup.incrementalEveryS,
    keepFull: backup.keepFull,
  };
  return {
    files: [
      ...(secrets ? [{ path: keyFile, content: secrets.backupKey, mode: 0o600 }] : []),
      { path: paths.config, content: `${JSON.stringify(config, null, 2)}\n` },
    ],
    spec: nodeServiceSpec(service, AGENT_ENTRY, paths, namespace),
  };
}

/** The backup host, or a clear error: a stack without one is not backed up. */
export function requireBackupHost(plan: Plan) {
  if (!plan.backup) {
    throw new TandemError(
      'TANDEM_STATE',
      `nothing backs stack ${plan.name} up: it has no backup host`,
      "give a host the 'monitor' role (the default design has one) or name one in `backup.host`, then `tandem up`",
    );
  }
  return plan.backup;
}

/** The stack's backup key as stored (undefined: none, or no readable secrets file); never generated here. */
export function storedBackupKey(plan: Plan): string | undefined {
  let key: unknown;
  try {
    key = readStoredSecrets(plan.secretsFile).backupKey;
  } catch {}
  return typeof key === 'string' && key !== '' ? key : undefined;
}

/**
 * The stack's backup key as stored, never generated here: a new key would read no
 * existing backup (a lost secrets file is the README's disaster-recovery case).
 */
function existingBackupKey(plan: Plan): string {
  const key = storedBackupKey(plan);
  if (key === undefined) {
    throw new TandemError(
      'TANDEM_STATE',
      `the stack's backup key is missing (backupKey in ${plan.secretsFile})`,
      'run `tandem up` once to create the stack; after losing the secrets file, put back the copy kept apart from the stack',
    );
  }
  return key;
}

/** A signed request to the agent; the parsed JSON answer. Throws TandemError when it does not answer or refuses. */
async function askAgent<T>(plan: Plan, method: string, url: string, timeoutMs: number): Promise<T> {
  const backup = requireBackupHost(plan);
  const token = backupToken(existingBackupKey(plan));
  const where = `the backup agent on ${backup.host} (http://${backup.address}:${backup.agentPort})`;
  let status = 0;
  let text = '';
  try {
    ({ status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request({
        host: backup.address,
        port: backup.agentPort,
        method,
        path: url,
        headers: { [AUTH_HEADER]: signRequest(token, method, url) },
        timeout: timeoutMs,
      });
      req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
      req.once('error', reject);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.once('error', reject);
      });
      req.end();
    }));
  } catch (err) {
    throw new TandemError(
      'TANDEM_NOT_READY',
      `${where} does not answer: ${(err as Error).message}`,
      'the stack is down or not up yet: `tandem status` shows its services, `tandem up` starts them',
    );
  }
  let body: T & { error?: string };
  try {
    body = JSON.parse(text) as T & { error?: string };
  } catch {
    throw new TandemError('TANDEM_STATE', `${where} answered HTTP ${status} without JSON`);
  }
  if (status !== 200)
    throw new TandemError('TANDEM_STATE', `the backup was refused: ${body.error ?? `HTTP ${status}`}`);
  return body;
}

/** `tandem backup`: one backup now, through the agent, and its drill; its manifest (verified or failed). */
export async function backupNow(plan: Plan, kind: BackupKind): Promise<BackupManifest> {
  const { manifest } = await askAgent<{ manifest: BackupManifest }>(
    plan,
    'POST',
    `/backups?kind=${kind}`,
    (BACKUP_TIMEOUT_S + 60) * 1000,
  );
  return manifest;
}

/**
 * `tandem backups`: the manifests, oldest first. With `check`, the agent first verifies
 * every stored file's checksum (and marks a corrupt one failed); without, they are read
 * from the backup host's folder, which needs no running service.
 */
export async function listStoredBackups(plan: Plan, check: boolean): Promise<BackupManifest[]> {
  const backup = requireBackupHost(plan);
  if (check) return (await askAgent<{ backups: BackupManifest[] }>(plan, 'GET', '/backups?check=1', 600_000)).backups;
  return fs.existsSync(backup.dir) ? readManifests(backup.dir) : [];
}

/** What `status` shows of backups: the last one and its drill; null: nothing backs the stack up. */
export interface BackupStatus {
  readonly host: string;
  readonly count: number;
  readonly last: BackupManifest | null;
  readonly lastVerified: BackupManifest | null;
}

export function backupStatus(plan: Plan): BackupStatus | null {
  if (!plan.backup) return null;
  const all = readManifests(plan.backup.dir);
  return {
    host: hostOf(plan, plan.backup.host).name,
    count: all.length,
    last: all.at(-1) ?? null,
    lastVerified: all.filter((m) => m.verification === 'verified').at(-1) ?? null,
  };
}
