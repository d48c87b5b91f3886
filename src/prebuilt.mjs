// @ts-check
/**
 * tandem's processes run prebuilt JavaScript: the CLI (bin/tandem.js), the app, its
 * migrations, the sentinels, the alert receiver and the chaos traffic worker. Compiling TypeScript through
 * tsx costs every process ~1 s before its first step; esbuild bundles each entry once
 * into `dist/<stamp>/` (npm packages stay external: node_modules is used as is), and
 * `dist/current` links to the build of the sources as they are. Processes that tandem
 * supervises are started through that link: their argv, which `up` fingerprints, stays
 * the same when the code changes (as it did with tsx), and a restart runs the new code.
 *
 * Never stale: the stamp hashes the path, size and mtime of every file under src/ (and
 * the build's own inputs), so any edit names a build that does not exist yet, and the
 * next command builds it (~1 s) or, when it cannot (a read-only checkout, a compile
 * error), runs the TypeScript through tsx as before. A build is written to a temp folder
 * and renamed into place, so two commands building at once never see half a build.
 * Plain JavaScript: bin/tandem.js needs it before any TypeScript can load.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The checkout's root: src/ and node_modules/ sit here. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/**
 * Each entry tandem runs as a process: output name → source, relative to the root.
 * @type {Readonly<Record<string, string>>}
 */
export const ENTRIES = {
  cli: 'src/cli/main.ts',
  'app-server': 'src/app/server.ts',
  'app-migrate': 'src/app/migrate.ts',
  sentinel: 'src/sentinel/main.ts',
  'alert-receiver': 'src/alert-receiver/main.ts',
  'backup-source': 'src/backup/source-main.ts',
  'backup-agent': 'src/backup/agent-main.ts',
  'traffic-worker': 'src/chaos/traffic-worker.ts',
};

/** Files outside src/ that shape the output. */
const BUILD_INPUTS = ['tsconfig.json', 'node_modules/esbuild/package.json'];

/** The TypeScript loader, by absolute URL: a process's cwd need not hold node_modules. */
const TSX = import.meta.resolve('tsx');

/**
 * The stamp of a source tree (pure): any file added, removed, resized or touched gives
 * another stamp. `files` are [path relative to the root, size, mtimeMs].
 * @param {string} root
 * @param {ReadonlyArray<readonly [string, number, number]>} files
 * @returns {string}
 */
export function stampOf(root, files) {
  const hash = createHash('sha256').update(root);
  for (const [rel, size, mtimeMs] of [...files].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    hash.update(`\n${rel}\0${size}\0${mtimeMs}`);
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * [relative path, size, mtimeMs] of every input of the build under `root`.
 * @param {string} root
 * @returns {Array<[string, number, number]>}
 */
export function listInputs(root) {
  /** @type {Array<[string, number, number]>} */
  const files = [];
  /** @param {string} rel */
  const add = (rel) => {
    try {
      const st = fs.statSync(path.join(root, rel));
      files.push([rel, st.size, st.mtimeMs]);
    } catch {
      files.push([rel, -1, 0]);
    }
  };
  for (const d of fs.readdirSync(path.join(root, 'src'), { recursive: true, withFileTypes: true })) {
    if (d.isFile()) add(path.relative(root, path.join(d.parentPath, d.name)));
  }
  BUILD_INPUTS.forEach(add);
  return files;
}

/**
 * Which builds to delete (pure): all but `keep` and the `spare` newest others, which a
 * command started a moment ago may still be about to load.
 * @param {ReadonlyArray<{ name: string, mtimeMs: number }>} builds
 * @param {string} keep
 * @param {number} spare
 * @returns {string[]}
 */
export function prunable(builds, keep, spare = 2) {
  return builds
    .filter((b) => b.name !== keep)
    .sort((a, b) => b.mtimeMs - a.mtimeMs)
    .slice(spare)
    .map((b) => b.name);
}

/**
 * The folder of the complete build for the sources as they are now, if `dist/current`
 * links to it (`up` starts processes through that link).
 * @param {string} [root]
 * @returns {string | undefined}
 */
export function freshBuild(root = ROOT) {
  const stamp = stampOf(root, listInputs(root));
  return linkedBuild(path.join(root, 'dist')) === stamp ? path.join(root, 'dist', stamp) : undefined;
}

/** @param {string} dist */
function linkedBuild(dist) {
  try {
    return fs.readlinkSync(path.join(dist, 'current'));
  } catch {
    return undefined;
  }
}

/**
 * The build this process runs (set by ensureBuild, else looked up once; null: none).
 * @type {string | null | undefined}
 */
let chosen;

/**
 * The fresh build's folder, building it when there is none. Undefined when it cannot be
 * built: the caller then runs the TypeScript through tsx (which reports a compile error
 * better than a bundler's message would).
 * @param {{ root?: string, entries?: Record<string, string> }} [opts]
 * @returns {Promise<string | undefined>}
 */
export async function ensureBuild(opts = {}) {
  const root = opts.root ?? ROOT;
  const stamp = stampOf(root, listInputs(root));
  const dist = path.join(root, 'dist');
  const dir = path.join(dist, stamp);
  if (!fs.existsSync(dir)) {
    const tmp = path.join(dist, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await bundle(root, opts.entries ?? ENTRIES, tmp);
      fs.renameSync(tmp, dir);
    } catch {
      // Another command renamed the same build into place first (EEXIST/ENOTEMPTY: use
      // it), or this one could not build (read-only checkout, compile error: tsx).
      fs.rmSync(tmp, { recursive: true, force: true });
      if (!fs.existsSync(dir)) return undefined;
    }
    prune(dist, stamp);
  }
  if (linkedBuild(dist) !== stamp) {
    try {
      const tmp = path.join(dist, `.current-${process.pid}-${randomBytes(4).toString('hex')}`);
      fs.symlinkSync(stamp, tmp);
      fs.renameSync(tmp, path.join(dist, 'current'));
    } catch {
      return undefined;
    }
  }
  if (root === ROOT) chosen = dir;
  return dir;
}

/** @type {import('esbuild').Plugin} */
const SOURCES = {
  name: 'tandem-sources',
  setup(build) {
    // Each module keeps its own import.meta.url (the .ts file's), so the paths it
    // builds from it (the supervisor script, the bundled app, migrations/) still hold.
    build.onLoad({ filter: /\.ts$/ }, (args) => ({
      contents: fs
        .readFileSync(args.path, 'utf8')
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
      loader: 'ts',
    }));
    // One instance of this module in a process: the bundled CLI sees the build
    // bin/tandem.js chose, and the entries never embed a copy of it.
    build.onResolve({ filter: /prebuilt\.mjs$/ }, (args) => ({
      path: pathToFileURL(path.resolve(args.resolveDir, args.path)).href,
      external: true,
    }));
  },
};

/**
 * @param {string} root
 * @param {Record<string, string>} entries
 * @param {string} outdir
 */
async function bundle(root, entries, outdir) {
  const esbuild = await import('esbuild');
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: entries,
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    // A command's lazy imports (the dashboard's Fastify, chaos) become chunks loaded
    // only when it runs: a bundle hoists every npm import to its top.
    splitting: true,
    sourcemap: true,
    logLevel: 'silent',
    plugins: [SOURCES],
  });
}

/**
 * @param {string} dist
 * @param {string} keep
 */
function prune(dist, keep) {
  try {
    const entries = fs.readdirSync(dist).map((name) => ({ name, mtimeMs: fs.statSync(path.join(dist, name)).mtimeMs }));
    const builds = entries.filter((e) => /^[0-9a-f]{16}$/.test(e.name));
    // A command killed while it built leaves its temp folder: gone after ten minutes.
    const leftovers = entries.filter((e) => e.name.startsWith('.') && e.mtimeMs < Date.now() - 600_000);
    for (const name of [...prunable(builds, keep), ...leftovers.map((e) => e.name)]) {
      fs.rmSync(path.join(dist, name), { recursive: true, force: true });
    }
  } catch {}
}

/**
 * argv that runs a TypeScript entry of tandem's as its prebuilt JavaScript, or undefined
 * when `source` (absolute) is no entry or there is no fresh build.
 * @param {string} source
 * @param {readonly string[]} [args]
 * @returns {string[] | undefined}
 */
export function prebuiltCommand(source, args = []) {
  const name = Object.keys(ENTRIES).find((n) => path.join(ROOT, ENTRIES[n] ?? '') === source);
  if (name === undefined) return undefined;
  if (chosen === undefined) chosen = freshBuild() ?? null;
  if (chosen === null) return undefined;
  // Through the link when it still names this build (another command may have moved it).
  const dist = path.dirname(chosen);
  const dir = linkedBuild(dist) === path.basename(chosen) ? path.join(dist, 'current') : chosen;
  return [process.execPath, '--enable-source-maps', path.join(dir, `${name}.js`), ...args];
}

/**
 * argv that runs a TypeScript entry: prebuilt when it can, else through tsx.
 * @param {string} source
 * @param {readonly string[]} [args]
 * @returns {string[]}
 */
export function nodeCommand(source, args = []) {
  return prebuiltCommand(source, args) ?? [process.execPath, '--import', TSX, source, ...args];
}

/**
 * Imports a TypeScript module that is not tandem's (the stack's config file), bundled
 * whole by esbuild: about half the CPU of starting the tsx loader for it. The bundle is
 * kept in `dist/config/` with the path, size and mtime of every file it was made from,
 * and reused while none of them changed: starting esbuild costs ~0.2 s, most of a
 * no-op `up`. Undefined when esbuild cannot bundle it: the caller then imports it
 * through tsx, whose error names the problem as before.
 * @param {string} file absolute path
 * @returns {Promise<Record<string, unknown> | undefined>}
 */
export async function importBundled(file) {
  const cache = path.join(
    ROOT,
    'dist',
    'config',
    `${createHash('sha256').update(file).digest('hex').slice(0, 16)}.json`,
  );
  let code = cachedBundle(cache, file);
  if (code === undefined) {
    try {
      const esbuild = await import('esbuild');
      const workDir = path.dirname(file);
      const out = await esbuild.build({
        absWorkingDir: workDir,
        entryPoints: [file],
        bundle: true,
        write: false,
        metafile: true,
        format: 'esm',
        platform: 'node',
        target: 'node20',
        logLevel: 'silent',
        plugins: [SOURCES],
      });
      code = out.outputFiles[0]?.text;
      if (code !== undefined) {
        const inputs = Object.keys(out.metafile.inputs).map((rel) => path.resolve(workDir, rel));
        keepBundle(cache, file, inputs, code);
      }
    } catch {
      return undefined;
    }
  }
  if (code === undefined) return undefined;
  return import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
}

/**
 * [absolute path, size, mtimeMs] of each file, or undefined when one is gone.
 * @param {readonly string[]} files
 * @returns {Array<[string, number, number]> | undefined}
 */
function fileStamps(files) {
  try {
    return files.map((f) => {
      const st = fs.statSync(f);
      return [f, st.size, st.mtimeMs];
    });
  } catch {
    return undefined;
  }
}

/**
 * The kept bundle of `file` when every file it was made from is as it was then.
 * @param {string} cache
 * @param {string} file
 * @returns {string | undefined}
 */
function cachedBundle(cache, file) {
  try {
    const kept = JSON.parse(fs.readFileSync(cache, 'utf8'));
    if (kept.file !== file || !Array.isArray(kept.inputs) || typeof kept.code !== 'string') return undefined;
    const now = fileStamps(kept.inputs.map((/** @type {[string]} */ i) => i[0]));
    return now !== undefined && JSON.stringify(now) === JSON.stringify(kept.inputs) ? kept.code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Keeps a bundle beside its inputs' stamps (mode 0600: a config is the user's own),
 * written whole or not at all. A read-only checkout just bundles every time.
 * @param {string} cache
 * @param {string} file
 * @param {readonly string[]} inputs
 * @param {string} code
 */
function keepBundle(cache, file, inputs, code) {
  const stamps = fileStamps(inputs);
  if (stamps === undefined) return;
  try {
    fs.mkdirSync(path.dirname(cache), { recursive: true });
    const tmp = `${cache}.${process.pid}-${randomBytes(4).toString('hex')}`;
    fs.writeFileSync(tmp, JSON.stringify({ file, inputs: stamps, code }), { mode: 0o600 });
    fs.renameSync(tmp, cache);
  } catch {}
}
