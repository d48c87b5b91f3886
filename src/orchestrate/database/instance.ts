/** Where each database instance lives, and the initialisation of its data directory. */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type ServicePaths, servicePaths } from '../../config/paths.ts';
import type { Plan, PlanService } from '../../config/types.ts';
import { mariadbEngine } from '../../engines/mariadb.ts';
import { run } from '../../hosts/process.ts';
import { prunable, ROOT } from '../../prebuilt.mjs';
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

/**
 * Options that differ between two instances of one stack but not in what
 * mariadb-install-db writes: where it listens, who it is, whether it is read-only.
 */
const PER_INSTANCE = /^\s*(server_id|report_host|report_port|bind_address|port|read_only)\s*=/;

/**
 * The key of what mariadb-install-db makes from this config (pure): how it is installed
 * (the binaries by size and mtime, the installer's options) and every option of the
 * config but those naming the instance, with its own folder written as `<dir>`. Two
 * instances of a stack share it, and so do stacks.
 */
export function templateKey(myCnf: string, dir: string, install: readonly string[]): string {
  const options = myCnf
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#') && !PER_INSTANCE.test(l))
    .map((l) => l.replaceAll(dir, '<dir>'));
  return createHash('sha256').update(JSON.stringify({ install, options })).digest('hex').slice(0, 16);
}

/** The binaries by size and mtime (another MariaDB makes other files), then the installer's options. */
function installStamps(paths: ServicePaths): string[] {
  const binaries = mariadbEngine.binaries.map((b) => {
    const st = fs.statSync(b.path, { throwIfNoEntry: false });
    return `${b.path}:${st?.size ?? -1}:${st?.mtimeMs ?? 0}`;
  });
  // After the defaults file, which names the instance.
  return [...binaries, ...mariadbEngine.installCommand(paths).slice(2)];
}

/**
 * Where fresh data directories are kept, by key: in tandem's own dist/ (beside its
 * prebuilt JavaScript), not in any stack's state. Undefined when it cannot be written.
 */
const TEMPLATES = path.join(ROOT, 'dist', 'mariadb');

/** The installs under way in this process, by key: two instances of a stack start together. */
const installing = new Map<string, Promise<string | undefined>>();

/** A complete template folder (renamed into place whole), or undefined. Marked used now. */
function templateAt(key: string): string | undefined {
  const dir = path.join(TEMPLATES, key);
  if (!fs.existsSync(path.join(dir, 'mysql'))) return undefined;
  const now = new Date();
  fs.utimesSync(dir, now, now);
  return dir;
}

/** Keeps a freshly installed (never started) data directory as the template of its key. */
function keepTemplate(data: string, key: string): string | undefined {
  const tmp = path.join(TEMPLATES, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    fs.mkdirSync(TEMPLATES, { recursive: true, mode: 0o700 });
    fs.cpSync(data, tmp, { recursive: true });
    fs.renameSync(tmp, path.join(TEMPLATES, key));
    // About 50 MB each: the three used last stay besides this one.
    const kept = fs.readdirSync(TEMPLATES).filter((name) => /^[0-9a-f]{16}$/.test(name));
    const used = kept.map((name) => ({ name, mtimeMs: fs.statSync(path.join(TEMPLATES, name)).mtimeMs }));
    for (const name of prunable(used, key, 3)) fs.rmSync(path.join(TEMPLATES, name), { recursive: true, force: true });
  } catch {
    // Another process kept one first, or dist/ is read-only: this install stands anyway.
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return templateAt(key);
}

/**
 * Initialises an empty data directory. mariadb-install-db takes 2–3 s (it bootstraps a
 * server); its output depends only on the server's version and options, so it is made
 * once per key and copied (~0.1 s) for every other instance. Returns false when the
 * directory was initialised already.
 */
export async function initialise(paths: ServicePaths): Promise<boolean> {
  if (isInitialised(paths)) return false;
  fs.rmSync(paths.data, { recursive: true, force: true });
  // master.info keeps the replication password: the data directory is root's alone.
  fs.mkdirSync(paths.data, { recursive: true, mode: 0o700 });
  const key = templateKey(fs.readFileSync(paths.config, 'utf8'), paths.dir, installStamps(paths));
  // Looked up before any await: of two instances started together, the second waits for the first.
  const pending = installing.get(key);
  const template = templateAt(key) ?? (pending && (await pending));
  if (template) {
    fs.cpSync(template, paths.data, { recursive: true });
    return true;
  }
  const install = run(mariadbEngine.installCommand(paths), { timeoutMs: 120_000 });
  const kept = install.then(() => keepTemplate(paths.data, key));
  installing.set(
    key,
    kept.catch(() => undefined),
  );
  try {
    await kept;
  } finally {
    installing.delete(key);
  }
  return true;
}
