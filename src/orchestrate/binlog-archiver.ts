/**
 * What running the binlog archiver means (issue 10): tandem's own Node process on the
 * backup host (src/backup/archiver.ts), supervised like the engines. Its files: the JSON
 * config, a `[client]` option file with the archive user's password and the backup key,
 * both 0600 and written only by `up` (which holds the secrets).
 */
import path from 'node:path';
import type { ServicePaths } from '../config/paths.ts';
import { hostOf } from '../config/resolve.ts';
import type { Plan, PlanService } from '../config/types.ts';
import type { Secrets } from '../hosts/secrets.ts';
import type { SupervisedSpec } from '../hosts/supervise.ts';
import { ROOT } from '../prebuilt.mjs';
import { ARCHIVER_SERVER_ID, type ArchiverConfig, renderArchiverOptionFile } from '../backup/archiver-config.ts';
import { nodeServiceSpec } from './node-service.ts';
import type { ServiceFile } from './services.ts';

const ENTRY = path.join(ROOT, 'src', 'backup', 'archiver-main.ts');

/**
 * The longest the live binlog file stays plaintext on the backup host. Each seal restarts
 * the stream (a pause of tens of milliseconds), so not much more often than this.
 */
export const ARCHIVE_SEAL_EVERY_S = 60;

/** The archiver's files beside its config. */
export function archiverFiles(paths: Pick<ServicePaths, 'dir'>): {
  optionFile: string;
  keyFile: string;
  stateFile: string;
} {
  return {
    optionFile: path.join(paths.dir, 'archive.cnf'),
    keyFile: path.join(paths.dir, 'backup-key'),
    stateFile: path.join(paths.dir, 'state.json'),
  };
}

export function archiverConfig(plan: Plan, service: PlanService, paths: ServicePaths): ArchiverConfig {
  const files = archiverFiles(paths);
  return {
    archiveDir: plan.backup!.archiveDir,
    nodes: [plan.db.primary, ...plan.db.replicas].map((h) => ({
      host: h,
      address: hostOf(plan, h).address,
      port: plan.db.port,
    })),
    defaultsFile: files.optionFile,
    keyFile: files.keyFile,
    serverId: ARCHIVER_SERVER_ID,
    stateFile: files.stateFile,
    streamPidFile: path.join(paths.dir, 'stream.pid'),
    listen: { address: service.address, port: service.port },
    tickMs: 200,
    sealEveryS: ARCHIVE_SEAL_EVERY_S,
  };
}

/** The archiver's files (its secrets only when `up` passes them) and supervised command. */
export function binlogArchiverUnit(
  plan: Plan,
  service: PlanService,
  paths: ServicePaths,
  namespace: string | undefined,
  secrets?: Pick<Secrets, 'dbArchivePassword' | 'backupKey'>,
): { files: ServiceFile[]; spec: SupervisedSpec } {
  const files = archiverFiles(paths);
  return {
    files: [
      ...(secrets
        ? [
            {
              path: files.optionFile,
              content: renderArchiverOptionFile(plan.db.users.archive, secrets.dbArchivePassword),
              mode: 0o600,
            },
            { path: files.keyFile, content: secrets.backupKey, mode: 0o600 },
          ]
        : []),
      { path: paths.config, content: `${JSON.stringify(archiverConfig(plan, service, paths), null, 2)}\n` },
    ],
    spec: nodeServiceSpec(service, ENTRY, paths, namespace),
  };
}
