import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { resolve } from '../../src/config/resolve.ts';
import { workerCommand } from '../../src/hosts/worker.ts';
import { BUNDLED_APP_DIR } from '../../src/orchestrate/config-loader.ts';
import { unitOf } from '../../src/orchestrate/services.ts';
import { ensureBuild, freshBuild, importBundled, listInputs, prunable, ROOT, stampOf } from '../../src/prebuilt.mjs';
import { makeTempDir, removeTempDirs } from './fixtures/plans.ts';

describe('prebuilt: the stamp of the sources', () => {
  const files: Array<[string, number, number]> = [
    ['src/a.ts', 10, 1000],
    ['src/b/c.ts', 20, 2000],
  ];

  it('does not depend on the order the files were listed in', () => {
    assert.equal(stampOf('/r', files), stampOf('/r', [...files].reverse()));
  });

  it('changes when a file is touched, resized, added or removed, or the checkout moves', () => {
    const base = stampOf('/r', files);
    const variants = [
      [['src/a.ts', 10, 1001], files[1]!],
      [['src/a.ts', 11, 1000], files[1]!],
      [...files, ['src/d.ts', 1, 1]],
      [files[0]!],
    ] as Array<Array<[string, number, number]>>;
    const stamps = variants.map((v) => stampOf('/r', v));
    assert.equal(stamps.length, 4);
    for (const s of stamps) assert.notEqual(s, base);
    assert.notEqual(stampOf('/elsewhere', files), base);
  });
});

describe('prebuilt: which old builds go', () => {
  it('keeps the build in use and the two newest others', () => {
    const builds = [1, 5, 3, 4, 2].map((t) => ({ name: `b${t}`, mtimeMs: t }));
    assert.deepEqual(prunable(builds, 'b1').sort(), ['b2', 'b3']);
    assert.deepEqual(prunable(builds, 'b5').sort(), ['b1', 'b2']);
  });

  it('deletes nothing while there are no more than the spares', () => {
    assert.deepEqual(prunable([{ name: 'a', mtimeMs: 1 }], 'b'), []);
  });
});

describe('prebuilt: building a source tree', { timeout: 60_000 }, () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-prebuilt-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  const entries = { main: 'src/main.ts' };
  const write = (rel: string, text: string, mtime?: number) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
    if (mtime !== undefined) fs.utimesSync(path.join(root, rel), mtime, mtime);
  };
  const runBuilt = (dir: string) => execFileSync(process.execPath, [path.join(dir, 'main.js')], { encoding: 'utf8' });
  write('src/main.ts', "import { where } from './lib/where.ts';\nconsole.log(where(), 'v1');\n");
  write('src/lib/where.ts', 'export const where = (): string => import.meta.url;\n');

  it('builds the entries once, runs them with each module knowing its own source file, and finds the build again', async () => {
    assert.equal(freshBuild(root), undefined);
    const dir = await ensureBuild({ root, entries });
    assert.ok(dir);
    assert.equal(runBuilt(dir).trim(), `file://${root}/src/lib/where.ts v1`);
    assert.equal(freshBuild(root), dir);
    assert.equal(fs.readlinkSync(path.join(root, 'dist', 'current')), path.basename(dir));
  });

  it('treats a build as stale once any source changes, and builds the new code', async () => {
    const before = freshBuild(root);
    assert.ok(before);
    write(
      'src/main.ts',
      "import { where } from './lib/where.ts';\nconsole.log(where(), 'v2');\n",
      Date.now() / 1000 + 5,
    );
    assert.equal(freshBuild(root), undefined);
    const dir = await ensureBuild({ root, entries });
    assert.ok(dir);
    assert.notEqual(dir, before);
    assert.match(runBuilt(dir), / v2$/m);
  });

  it('two commands building at once both get the same complete build, and leave no temp folder', async () => {
    write('src/lib/extra.ts', 'export {};\n');
    const [a, b] = await Promise.all([ensureBuild({ root, entries }), ensureBuild({ root, entries })]);
    assert.ok(a);
    assert.equal(a, b);
    assert.match(runBuilt(a), / v2$/m);
    assert.deepEqual(
      fs.readdirSync(path.join(root, 'dist')).filter((n) => n.startsWith('.')),
      [],
    );
  });

  it('gives no build when the sources do not compile (the caller falls back to tsx)', async () => {
    write('src/main.ts', 'const = ;\n');
    assert.equal(await ensureBuild({ root, entries }), undefined);
    assert.equal(freshBuild(root), undefined);
  });

  it('lists every file under src/ as an input', () => {
    const rels = listInputs(root).map(([rel]) => rel);
    for (const rel of ['src/main.ts', 'src/lib/where.ts', 'src/lib/extra.ts']) assert.ok(rels.includes(rel), rel);
  });
});

describe("prebuilt: the processes tandem starts run tandem's own build", { timeout: 120_000 }, () => {
  after(removeTempDirs);
  const current = (name: string) => path.join(ROOT, 'dist', 'current', `${name}.js`);
  const planWith = (app: object) =>
    resolve({ database: { failover: true }, app }, { projectDir: makeTempDir(), bundledAppDir: BUNDLED_APP_DIR });

  it('starts the bundled app and the sentinels from dist/current, with source maps', async () => {
    const build = await ensureBuild();
    assert.ok(build, 'tandem builds');
    assert.equal(freshBuild(), build);
    const plan = planWith({});
    const specs = plan.services.filter((s) => s.kind === 'app' || s.kind === 'sentinel').map((s) => unitOf(plan, s));
    assert.ok(specs.length >= 4);
    for (const { service, spec, paths } of specs) {
      const script = current(service.kind === 'app' ? 'app-server' : 'sentinel');
      const args = service.kind === 'app' ? [] : [paths.config];
      assert.deepEqual(spec.argv, [process.execPath, '--enable-source-maps', script, ...args]);
      assert.ok(fs.existsSync(script), script);
    }
  });

  it('starts an app whose start command is configured as configured', () => {
    const plan = planWith({ start: ['node', 'other.js'] });
    const apps = plan.services.filter((s) => s.kind === 'app').map((s) => unitOf(plan, s).spec.argv);
    assert.ok(apps.length >= 2);
    for (const argv of apps) assert.deepEqual(argv, ['node', 'other.js']);
  });

  it('runs the chaos traffic worker prebuilt, and a script that is no entry of tandem through tsx', () => {
    const worker = workerCommand({ namespace: undefined }, path.join(ROOT, 'src/chaos/traffic-worker.ts'), ['{}']);
    assert.deepEqual(worker, [process.execPath, '--enable-source-maps', current('traffic-worker'), '{}']);
    const other = workerCommand({ namespace: undefined }, '/w/other.ts', []);
    assert.match(other.join(' '), /--import file:\/\/\S*tsx\S* \/w\/other\.ts$/);
  });
});

describe('prebuilt: the config file, bundled once and kept', { timeout: 60_000 }, () => {
  after(removeTempDirs);

  it('reuses the kept bundle while its files are unchanged, and sees an edit of the config or of a file it imports', async () => {
    const dir = makeTempDir();
    const config = path.join(dir, 'tandem.config.ts');
    const part = path.join(dir, 'part.ts');
    fs.writeFileSync(part, "export const name: string = 'one';\n");
    fs.writeFileSync(config, "import { name } from './part.ts';\nexport default { name, n: 1 };\n");
    assert.deepEqual((await importBundled(config))?.default, { name: 'one', n: 1 });
    const kept = path.join(ROOT, 'dist', 'config');
    const cacheFile = fs
      .readdirSync(kept)
      .map((f) => path.join(kept, f))
      .find((f) => fs.readFileSync(f, 'utf8').includes(config));
    assert.ok(cacheFile, 'the bundle is kept under dist/config');
    assert.equal(fs.statSync(cacheFile).mode & 0o777, 0o600);
    const keptAt = fs.statSync(cacheFile).mtimeMs;
    assert.deepEqual((await importBundled(config))?.default, { name: 'one', n: 1 });
    assert.equal(fs.statSync(cacheFile).mtimeMs, keptAt, 'an unchanged config is not bundled again');
    fs.writeFileSync(part, "export const name: string = 'two';\n");
    assert.deepEqual((await importBundled(config))?.default, { name: 'two', n: 1 });
    fs.writeFileSync(config, "import { name } from './part.ts';\nexport default { name, n: 22 };\n");
    assert.deepEqual((await importBundled(config))?.default, { name: 'two', n: 22 });
    fs.rmSync(cacheFile);
  });
});
