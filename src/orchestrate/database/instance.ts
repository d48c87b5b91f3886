/** Where each database instance lives, and the initialisation of its data directory. */
import fs from 'node:fs';
import path from 'node:path';
import { type ServicePaths, servicePaths } from '../../config/paths.ts';
import type { Plan, PlanService } from '../../config/types.ts';
import { mariadbEngine } from '../../engines/mariadb.ts';
import { run } from '../../hosts/process.ts';
import { sql } from './sql.ts';

export function dbService(plan: Plan, host: string): PlanService {
  const svc = plan.services.find((s) => s.kind === 'mariadb' && s.host === host);
  if (!svc) throw new Error(`no database on ${host}`);
  return svc;
}

export function dbPaths(plan: Plan, host: string): ServicePaths {
  return servicePaths(dbService(plan, host));
}

/** Every database host, the config's primary first. */
export const dbHostsOf = (plan: Plan): string[] => [plan.db.primary, ...plan.db.replicas].filter((h) => h);

/** `read_only` of one node over its socket: true/false, or undefined when it gave no real answer. */
export async function readOnlyOf(plan: Plan, host: string, timeoutMs: number): Promise<boolean | undefined> {
  const [row] = await sql(dbPaths(plan, host), 'SELECT @@read_only AS ro', timeoutMs);
  // Only a real answer says writable: an empty one (a client cut short) is no answer.
  return row?.ro === '0' ? false : row?.ro === '1' ? true : undefined;
}

export function isInitialised(paths: ServicePaths): boolean {
  return fs.existsSync(path.join(paths.data, 'mysql'));
}

/** mariadb-install-db into an empty data directory. Returns false when already done. */
export async function initialise(paths: ServicePaths): Promise<boolean> {
  if (isInitialised(paths)) return false;
  fs.rmSync(paths.data, { recursive: true, force: true });
  // master.info keeps the replication password: the data directory is root's alone.
  fs.mkdirSync(paths.data, { recursive: true, mode: 0o700 });
  await run(mariadbEngine.installCommand(paths), { timeoutMs: 120_000 });
  return true;
}
