#!/usr/bin/env node
// tandem's entry: run the CLI as prebuilt JavaScript (src/prebuilt.mjs builds it when
// the sources changed), or through the TypeScript loader when it cannot be built.
import { ensureBuild } from '../src/prebuilt.mjs';

const build = await ensureBuild();
let main;
if (build) {
  ({ main } = await import(`${build}/cli.js`));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
