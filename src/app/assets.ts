/**
 * The code base's static assets (issue 11): the files of its `public/` folder, given
 * content-hashed names (`app.css` → `app.3f9c1a2b.css`) so that nginx may tell browsers
 * to keep them forever, each with a gzip copy beside it for nginx's `gzip_static`, and a
 * manifest (`assets.json`: logical name → URL path) through which the pages link them.
 * The build is pure: sources in, files out; orchestrate/assets.ts writes them.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

/** The URL prefix nginx serves the assets under, from the web host's assets folder. */
export const ASSETS_PREFIX = '/assets/';

/** The manifest's file name, in the assets folder beside the files it names. */
export const MANIFEST_NAME = 'assets.json';

/** Logical name (`app.css`) → URL path of its hashed file (`/assets/app.3f9c1a2b.css`). */
export type AssetManifest = Readonly<Record<string, string>>;

export interface AssetSource {
  /** File name inside `public/`, e.g. `app.css`. */
  readonly name: string;
  readonly bytes: Buffer;
}

export interface BuiltAssets {
  /** Files to write into the assets folder: each hashed file and its `.gz` copy, then the manifest. */
  readonly files: readonly { readonly name: string; readonly bytes: Buffer }[];
  readonly manifest: AssetManifest;
}

/** A logical name: one file name with an extension, no folder, nothing hidden. */
const SOURCE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*\.[A-Za-z0-9]+$/;

/** `app.css` with content hash `3f9c1a2b` → `app.3f9c1a2b.css`. */
export function hashedName(name: string, bytes: Buffer): string {
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 8);
  const ext = path.extname(name);
  return `${name.slice(0, -ext.length)}.${hash}${ext}`;
}

/** The hashed files, their gzip copies and the manifest of `sources` (pure; same sources, same bytes). */
export function buildAssets(sources: readonly AssetSource[]): BuiltAssets {
  const files: { name: string; bytes: Buffer }[] = [];
  const manifest: Record<string, string> = {};
  for (const { name, bytes } of [...sources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (!SOURCE_NAME.test(name))
      throw new Error(`asset ${JSON.stringify(name)} in public/: expected a file name like app.css`);
    const hashed = hashedName(name, bytes);
    // zlib writes no file name and a zero mtime: the same bytes give the same copy.
    files.push({ name: hashed, bytes }, { name: `${hashed}.gz`, bytes: gzipSync(bytes, { level: 9 }) });
    manifest[name] = `${ASSETS_PREFIX}${hashed}`;
  }
  files.push({ name: MANIFEST_NAME, bytes: Buffer.from(manifestText({ manifest })) });
  return { files, manifest };
}

/** The manifest file's text. */
export function manifestText(built: Pick<BuiltAssets, 'manifest'>): string {
  return `${JSON.stringify(built.manifest, null, 2)}\n`;
}

/**
 * The sources of the code base in `codeDir`: the files directly in its `public/` folder
 * (none without one), hidden ones (`.gitkeep`) left out.
 */
export function readAssetSources(codeDir: string): AssetSource[] {
  const dir = path.join(codeDir, 'public');
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .map((e) => ({ name: e.name, bytes: fs.readFileSync(path.join(dir, e.name)) }));
}

/** Parses a manifest's text; `where` names the file in the error. */
export function parseManifest(text: string, where: string): AssetManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where}: not JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${where}: expected an object of asset name → path`);
  for (const [name, url] of Object.entries(value))
    if (typeof url !== 'string' || !url.startsWith(ASSETS_PREFIX))
      throw new Error(`${where}: ${name} should be a path under ${ASSETS_PREFIX}, got ${JSON.stringify(url)}`);
  return value as AssetManifest;
}
