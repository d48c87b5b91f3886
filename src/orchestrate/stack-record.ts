/**
 * What tandem records about a stack beside its config:
 * - `<stateDir>/stack.json`: its name and hosting, written when `up` starts, so that
 *   `status`, `down` and `destroy` act on the hosting it runs on, whoever runs them;
 * - on netns, which state folder owns the stack's name on this machine
 *   (`/run/tandem/names/<name>.json`): namespaces and links are named after the stack,
 *   so two folders with one name would share them. /run is emptied at boot, as are
 *   the namespaces.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Hosting, Plan } from '../config/types.ts';
import { TandemError } from '../errors.ts';

export interface StackRecord {
  readonly name: string;
  readonly hosting: Hosting;
  readonly stateDir: string;
  readonly url: string;
  /** False once `down` stopped it: then the config may change its hosting. */
  readonly running: boolean;
  /** When the last `up` completed. */
  readonly upAt?: string;
}

const NAMES_DIR = '/run/tandem/names';

export function stackRecordPath(stateDir: string): string {
  return path.join(stateDir, 'stack.json');
}

/** The record of the stack in `stateDir`; undefined when it was never brought up (or was destroyed). */
export function readStackRecord(stateDir: string): StackRecord | undefined {
  const file = stackRecordPath(stateDir);
  try {
    const record = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<StackRecord>;
    // Written by an older tandem (no hosting): nothing to go by.
    return record.hosting ? ({ running: true, ...record } as StackRecord) : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') return undefined;
    const uid = fs.statSync(stateDir).uid;
    throw new TandemError(
      'TANDEM_USAGE',
      `cannot read ${file}: this stack was brought up by ${uid === 0 ? 'root' : `uid ${uid}`}, and only that user can look at or change it`,
      `run tandem as ${uid === 0 ? 'root (e.g. with sudo)' : `uid ${uid}`}`,
    );
  }
}

function writeRecord(stateDir: string, record: StackRecord): void {
  fs.mkdirSync(stateDir, { recursive: true });
  const file = stackRecordPath(stateDir);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

/** `up` starts: from now on the stack exists with this hosting. */
export function recordStackUp(plan: Plan, completed: boolean): void {
  const before = readStackRecord(plan.stateDir);
  writeRecord(plan.stateDir, {
    name: plan.name,
    hosting: plan.hosting,
    stateDir: plan.stateDir,
    url: plan.url,
    running: true,
    ...(completed ? { upAt: new Date().toISOString() } : before?.upAt ? { upAt: before.upAt } : {}),
  });
}

/** `down` stopped everything (data kept). */
export function recordStackDown(plan: Plan): void {
  const before = readStackRecord(plan.stateDir);
  if (before) writeRecord(plan.stateDir, { ...before, running: false });
}

/**
 * The hosting to resolve the config with: a running stack's recorded hosting, else the
 * config's. `up` refuses to change the hosting of a running stack (the old one would
 * keep running where nothing looks); netns stacks need root to look at.
 */
export function hostingFor(
  stateDir: string,
  configured: Hosting | undefined,
  opts: { changing: boolean },
): Hosting | undefined {
  const record = readStackRecord(stateDir);
  if (!record) return configured;
  if (record.hosting === 'netns' && process.getuid?.() !== 0) {
    throw new TandemError(
      'TANDEM_USAGE',
      `the stack "${record.name}" in ${stateDir} runs on netns hosting (network namespaces): only root can look at or change it`,
      'run tandem as root (e.g. with sudo)',
    );
  }
  if (configured === undefined || configured === record.hosting) return record.hosting;
  if (!record.running) return configured;
  if (opts.changing) {
    throw new TandemError(
      'TANDEM_STATE',
      `the stack "${record.name}" runs on ${record.hosting} hosting; the config now says ${configured}`,
      `run \`tandem down\` first (it stops the ${record.hosting} stack), then \`tandem up\``,
    );
  }
  return record.hosting;
}

function nameFile(name: string): string {
  return path.join(NAMES_DIR, `${name}.json`);
}

/** The state folder that owns the stack's name on this machine; undefined when none does. */
function nameOwner(name: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(nameFile(name), 'utf8')) as { stateDir: string }).stateDir;
  } catch {
    return undefined;
  }
}

/**
 * Another folder holding a stack of this name (netns), whose namespaces and links are
 * the ones this plan names. A record whose folder is gone (destroyed, deleted) blocks nothing.
 */
export function otherStackNamed(plan: Plan): string | undefined {
  if (plan.hosting !== 'netns') return undefined;
  const owner = nameOwner(plan.name);
  return owner && owner !== plan.stateDir && fs.existsSync(stackRecordPath(owner)) ? owner : undefined;
}

/** netns: claims the stack's name for this state folder, or refuses when another stack has it. */
export function claimStackName(plan: Plan): void {
  if (plan.hosting !== 'netns') return;
  const other = otherStackNamed(plan);
  if (other) {
    throw new TandemError(
      'TANDEM_CONFIG',
      `another stack named "${plan.name}" exists on this machine (state in ${other}); two stacks with one name would share network namespaces and links`,
      `rename one of them: set name: '<another name>' in this stack's tandem.config.ts (or \`tandem destroy\` the other one)`,
    );
  }
  if (nameOwner(plan.name) === plan.stateDir) return;
  const file = nameFile(plan.name);
  fs.mkdirSync(NAMES_DIR, { recursive: true });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify({ stateDir: plan.stateDir }));
  fs.renameSync(`${file}.tmp`, file);
}

/** `destroy`: the name is free again (when this folder owned it). */
export function releaseStackName(plan: Plan): void {
  if (nameOwner(plan.name) === plan.stateDir) fs.rmSync(nameFile(plan.name), { force: true });
}
