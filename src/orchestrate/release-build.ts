/**
 * Making a release (`tandem deploy`): the code base copied (without node_modules and
 * .git) into `<stateDir>/releases/<id>`, its production dependencies installed from its
 * lock file, its entries bundled, the optional build command run; then copied to each
 * app host's `releases/<id>`. The hosts keep the last `app.keepReleases`.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { DEFAULTS } from '../config/defaults.ts';
import type { Plan, PlanHost } from '../config/types.ts';
import { bundleEntries } from '../deploy/bundle.ts';
import { hostReleaseDir, releaseId, releasesToPrune } from '../deploy/releases.ts';
import { TandemError } from '../errors.ts';
import { run } from '../hosts/process.ts';
import { ROOT } from '../prebuilt.mjs';

/** What a release records about itself (`<release>/.tandem-release.json`). */
export interface ReleaseInfo {
  readonly id: string;
  /** The code base it was made from. */
  readonly source: string;
  readonly createdAt: string;
  /** sha256 over its files (relative path and bytes), node_modules aside. */
  readonly hash: string;
  /** The same over the code base it was made from: `up` compares it with the code base now. */
  readonly sourceHash?: string;
  readonly steps: readonly string[];
}

export const RELEASE_INFO = '.tandem-release.json';

const LEFT_OUT = new Set(['node_modules', '.git']);

export const stackReleasesDir = (plan: Plan) => path.join(plan.stateDir, 'releases');

/** sha256 over every file below `dir` (path and bytes), node_modules and the info file aside. */
export function contentHash(dir: string): string {
  const hash = createHash('sha256');
  const files = fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .filter((rel) => !rel.split(path.sep).some((part) => LEFT_OUT.has(part)) && rel !== RELEASE_INFO)
    .sort();
  for (const rel of files)
    hash
      .update(`${rel}\0`)
      .update(fs.readFileSync(path.join(dir, rel)))
      .update('\0');
  return hash.digest('hex');
}

/** Makes a release of `source` in the stack's releases folder. */
export async function buildRelease(plan: Plan, source: string, log: (m: string) => void): Promise<ReleaseInfo> {
  if (!fs.statSync(source, { throwIfNoEntry: false })?.isDirectory())
    throw new TandemError('TANDEM_USAGE', `no code base at ${source}`, 'pass --code DIR, or set app.codeDir');
  const releases = stackReleasesDir(plan);
  fs.mkdirSync(releases, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(releases, '.tmp-'));
  try {
    fs.cpSync(source, tmp, {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => !LEFT_OUT.has(path.basename(src)),
    });
    const steps: string[] = [];
    const hasPackage = fs.existsSync(path.join(tmp, 'package.json'));
    if (hasPackage) {
      if (!['package-lock.json', 'npm-shrinkwrap.json'].some((f) => fs.existsSync(path.join(tmp, f))))
        throw new TandemError(
          'TANDEM_USAGE',
          `${source} has a package.json but no package-lock.json: its dependencies cannot be installed reproducibly`,
          'run `npm install` there and commit package-lock.json',
        );
      await run(['npm', 'ci', '--omit=dev', '--no-audit', '--no-fund'], { cwd: tmp, timeoutMs: 600_000 });
      steps.push('npm ci --omit=dev');
    } else {
      // No dependencies of its own (the bundled app): tandem's, which it was written against.
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(tmp, 'node_modules'));
    }
    if (isDeepStrictEqual(plan.app.start, DEFAULTS.app.start)) {
      const bundled = await bundleEntries(source, tmp).catch((err: unknown) => {
        throw new TandemError(
          'TANDEM_PROCESS_FAILED',
          `the code base's entries in ${source} do not build: ${(err as Error).message.split('\n').slice(0, 8).join('\n    ')}`,
          'fix the error and deploy again; nothing was changed',
        );
      });
      if (bundled.length > 0) steps.push(`bundled ${bundled.join(', ')}`);
    }
    if (plan.app.build) {
      await run(plan.app.build, { cwd: tmp, timeoutMs: 600_000 });
      steps.push(plan.app.build.join(' '));
    }
    const hash = contentHash(tmp);
    const at = new Date();
    const info: ReleaseInfo = {
      id: releaseId(hash, at),
      source,
      createdAt: at.toISOString(),
      hash,
      sourceHash: contentHash(source),
      steps,
    };
    fs.writeFileSync(path.join(tmp, RELEASE_INFO), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o644 });
    fs.renameSync(tmp, path.join(releases, info.id));
    log(`release ${info.id} made from ${source}${steps.length > 0 ? ` (${steps.join('; ')})` : ''}`);
    return info;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** A release made before (rollback), or an error naming what exists. */
export function readRelease(plan: Plan, id: string): ReleaseInfo {
  try {
    return JSON.parse(fs.readFileSync(path.join(stackReleasesDir(plan), id, RELEASE_INFO), 'utf8')) as ReleaseInfo;
  } catch {
    throw new TandemError('TANDEM_STATE', `release ${id} is no longer kept`, 'see `tandem releases`');
  }
}

/** Every release the stack keeps, oldest first. */
export function listReleases(plan: Plan): ReleaseInfo[] {
  const dir = stackReleasesDir(plan);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => !name.startsWith('.'))
    .sort()
    .flatMap((id) => {
      try {
        return [readRelease(plan, id)];
      } catch {
        return [];
      }
    });
}

/** Copies the release to one app host (through a temp folder and a rename); a copy there already stays. */
export function copyToHost(plan: Plan, host: PlanHost, id: string): void {
  const target = hostReleaseDir(host, id);
  if (fs.existsSync(target)) return;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.cpSync(path.join(stackReleasesDir(plan), id), tmp, { recursive: true, verbatimSymlinks: true });
  fs.renameSync(tmp, target);
}

/** Deletes the releases beyond `app.keepReleases` in `dir`, never those in `protect`; returns them. */
export function pruneReleases(dir: string, keep: number, protect: readonly (string | undefined)[]): string[] {
  if (!fs.existsSync(dir)) return [];
  const gone = releasesToPrune(fs.readdirSync(dir), keep, protect);
  for (const id of gone) fs.rmSync(path.join(dir, id), { recursive: true, force: true });
  return gone;
}

/**
 * When the hosts run a release and the configured code base differs from the one it was
 * made from: what to tell the user (`up` and `plan` do not change running code).
 */
export function codeDrift(plan: Plan): string | undefined {
  const running = [...new Set(Object.values(plan.app.releases ?? {}).map((r) => r.id))];
  if (running.length === 0) return undefined;
  let info: ReleaseInfo;
  try {
    info = readRelease(plan, running[0]!);
  } catch {
    return undefined;
  }
  if (!fs.existsSync(plan.app.codeDir)) return undefined;
  if (running.length === 1 && info.source === plan.app.codeDir && info.sourceHash === contentHash(plan.app.codeDir))
    return undefined;
  return `the servers run release ${running.join(', ')}${
    info.source === plan.app.codeDir ? '' : ` (made from ${info.source})`
  }, which differs from the code base in ${plan.app.codeDir}: \`tandem deploy\` rolls it out (up leaves running code alone)`;
}
