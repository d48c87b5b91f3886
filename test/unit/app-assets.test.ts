/** The static assets' build (app/assets.ts) and how `up` writes it (orchestrate/assets.ts). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ASSETS_PREFIX, buildAssets, MANIFEST_NAME, parseManifest, readAssetSources } from '../../src/app/assets.ts';
import { BUNDLED_APP_DIR } from '../../src/orchestrate/config-loader.ts';
import { writeAssets } from '../../src/orchestrate/assets.ts';

const css = (text: string) => ({ name: 'app.css', bytes: Buffer.from(text) });
const SOURCES = [css('body { color: red }\n'), { name: 'app.js', bytes: Buffer.from('console.log(1);\n') }];

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-assets-'));
  dirs.push(d);
  return path.join(d, 'assets');
}

describe('buildAssets', () => {
  test('names each file by its content: same bytes the same name, other bytes another', () => {
    const a = buildAssets([css('body { color: red }\n')]).manifest['app.css']!;
    const again = buildAssets([css('body { color: red }\n')]).manifest['app.css']!;
    const b = buildAssets([css('body { color: blue }\n')]).manifest['app.css']!;
    assert.match(a, /^\/assets\/app\.[0-9a-f]{8}\.css$/);
    assert.equal(again, a);
    assert.notEqual(b, a);
  });

  test('the manifest maps every logical name to a hashed file that is built, and is itself a file', () => {
    const built = buildAssets(SOURCES);
    assert.deepEqual(Object.keys(built.manifest).sort(), ['app.css', 'app.js']);
    const names = built.files.map((f) => f.name);
    for (const url of Object.values(built.manifest)) {
      assert.ok(url.startsWith(ASSETS_PREFIX), url);
      const name = url.slice(ASSETS_PREFIX.length);
      assert.ok(names.includes(name), `${name} is built`);
      assert.ok(names.includes(`${name}.gz`), `${name}.gz is built`);
    }
    const manifestFile = built.files.find((f) => f.name === MANIFEST_NAME);
    assert.deepEqual(parseManifest(String(manifestFile?.bytes), MANIFEST_NAME), built.manifest);
    assert.equal(built.files.length, 2 * 2 + 1);
  });

  test('each gzip copy decompresses to the same bytes as its file', () => {
    const built = buildAssets(SOURCES);
    const copies = built.files.filter((f) => f.name.endsWith('.gz'));
    assert.equal(copies.length, SOURCES.length);
    for (const gz of copies) {
      const plain = built.files.find((f) => f.name === gz.name.slice(0, -'.gz'.length))!;
      assert.ok(gunzipSync(gz.bytes).equals(plain.bytes), gz.name);
    }
  });

  test('the same sources build the same bytes, whatever their order', () => {
    const a = buildAssets(SOURCES);
    const b = buildAssets([...SOURCES].reverse());
    assert.deepEqual(
      a.files.map((f) => [f.name, f.bytes.toString('hex')]),
      b.files.map((f) => [f.name, f.bytes.toString('hex')]),
    );
  });

  test('refuses a name that is not a plain file name with an extension', () => {
    for (const name of ['../x.css', '.hidden.css', 'noext', 'sub/app.css'])
      assert.throws(
        () => buildAssets([{ name, bytes: Buffer.from('x') }]),
        new RegExp(`asset "${name.replace('.', '\\.')}`),
      );
  });

  test('the bundled app has a stylesheet, a script and an SVG icon', () => {
    const names = readAssetSources(BUNDLED_APP_DIR).map((s) => s.name);
    assert.deepEqual(names.sort(), ['app.css', 'app.js', 'favicon.svg']);
    assert.deepEqual(readAssetSources(path.join(BUNDLED_APP_DIR, 'no-such-dir')), []);
  });
});

describe('readAssetSources', () => {
  test('reads the files directly in public/, leaving out hidden files and folders', () => {
    const codeDir = path.dirname(tempDir());
    fs.mkdirSync(path.join(codeDir, 'public', 'sub'), { recursive: true });
    fs.writeFileSync(path.join(codeDir, 'public', 'app.css'), 'a');
    fs.writeFileSync(path.join(codeDir, 'public', '.gitkeep'), '');
    fs.writeFileSync(path.join(codeDir, 'public', 'sub', 'x.css'), 'x');
    assert.deepEqual(
      readAssetSources(codeDir).map((s) => [s.name, String(s.bytes)]),
      [['app.css', 'a']],
    );
  });
});

describe('writeAssets', () => {
  test('writes every file once; unchanged sources write and remove nothing', () => {
    const dir = tempDir();
    const built = buildAssets(SOURCES);
    const first = writeAssets(dir, built);
    assert.deepEqual(first.written.sort(), built.files.map((f) => f.name).sort());
    for (const f of built.files) assert.ok(fs.readFileSync(path.join(dir, f.name)).equals(f.bytes), f.name);
    const mtimes = built.files.map((f) => fs.statSync(path.join(dir, f.name)).mtimeMs);
    const second = writeAssets(dir, buildAssets(SOURCES));
    assert.deepEqual(second, { written: [], removed: [] });
    assert.deepEqual(
      built.files.map((f) => fs.statSync(path.join(dir, f.name)).mtimeMs),
      mtimes,
    );
    assert.equal(fs.statSync(path.join(dir, built.files[0]!.name)).mode & 0o777, 0o644);
  });

  test('a change keeps the previous build’s files (pages rendered before still find them) and drops older ones', () => {
    const dir = tempDir();
    const v1 = buildAssets([css('v1')]);
    const v2 = buildAssets([css('v2')]);
    const v3 = buildAssets([css('v3')]);
    writeAssets(dir, v1);
    const second = writeAssets(dir, v2);
    assert.deepEqual(second.removed, []);
    const file = (b: typeof v1) => b.manifest['app.css']!.slice(ASSETS_PREFIX.length);
    assert.ok(fs.existsSync(path.join(dir, file(v1))));
    const third = writeAssets(dir, v3);
    assert.deepEqual(third.removed.sort(), [file(v1), `${file(v1)}.gz`].sort());
    assert.deepEqual(
      fs.readdirSync(dir).sort(),
      [file(v2), `${file(v2)}.gz`, file(v3), `${file(v3)}.gz`, MANIFEST_NAME].sort(),
    );
    assert.deepEqual(parseManifest(fs.readFileSync(path.join(dir, MANIFEST_NAME), 'utf8'), 'x'), v3.manifest);
  });
});
