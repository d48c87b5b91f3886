/**
 * A TypeScript code base's entries bundled into its release: `server.ts` (and
 * `migrate.ts` when there is one) become `server.mjs` and `migrate.mjs` beside the
 * copied files. The release then runs without the TypeScript loader and without the
 * source tree around it (the bundled app imports tandem's database client from
 * `../db`). npm packages stay external: they come from the release's node_modules.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const BUNDLED_SERVER = 'server.mjs';
export const BUNDLED_MIGRATE = 'migrate.mjs';

/** Bundles the entries of `sourceDir` that exist into `outDir`; returns the files written. */
export async function bundleEntries(sourceDir: string, outDir: string): Promise<string[]> {
  const entries = Object.fromEntries(
    [
      ['server', 'server.ts'],
      ['migrate', 'migrate.ts'],
    ].filter(([, file]) => fs.existsSync(path.join(sourceDir, file!))),
  ) as Record<string, string>;
  if (!entries.server) return [];
  const esbuild = await import('esbuild');
  await esbuild.build({
    absWorkingDir: sourceDir,
    entryPoints: entries,
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    logLevel: 'silent',
  });
  const written = Object.keys(entries).map((name) => `${name}.mjs`);
  // The maps name their sources relative to the output folder, which the release leaves
  // (it is renamed, then copied to the hosts): absolute, a stack trace names the real file.
  for (const file of written) {
    const mapFile = path.join(outDir, `${file}.map`);
    const map = JSON.parse(fs.readFileSync(mapFile, 'utf8')) as { sources: string[] };
    map.sources = map.sources.map((s) => pathToFileURL(path.resolve(outDir, s)).href);
    fs.writeFileSync(mapFile, JSON.stringify(map));
  }
  return written;
}
