// Runs the test suite with node's test runner: unit tests (pure, fast) in parallel,
// then integration tests (real engines) one file at a time, since they bring up
// stacks on a 2-core machine and measure failures under load.
//   node scripts/test.mjs            all tiers (lint, unit, integration)
//   node scripts/test.mjs unit       unit tests only
//   node scripts/test.mjs integration
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const tiers = process.argv[2] ? [process.argv[2]] : ['lint', 'unit', 'integration'];
let failed = false;
for (const tier of tiers) {
  if (tier === 'lint') {
    // Types, lint rules and formatting: cheap, and they keep the tree honest. The three
    // are independent single-threaded tools: run side by side on the two cores, each
    // one's output printed whole once it ends.
    console.log('\n# lint: tsc, eslint, prettier');
    const results = await Promise.all(
      [
        ['tsc', '--noEmit', '-p', '.'],
        ['eslint', '.'],
        ['prettier', '--check', '--log-level', 'warn', '.'],
      ].map(
        (argv) =>
          new Promise((resolve) => {
            const child = spawn(path.join('node_modules', '.bin', argv[0]), argv.slice(1), {
              stdio: ['ignore', 'pipe', 'pipe'],
            });
            let output = '';
            child.stdout.on('data', (c) => (output += c));
            child.stderr.on('data', (c) => (output += c));
            child.on('error', (err) => resolve({ argv, output: `${output}${err.message}\n`, status: null }));
            child.on('close', (status) => resolve({ argv, output, status }));
          }),
      ),
    );
    for (const { argv, output, status } of results) {
      process.stdout.write(output);
      if (status !== 0) {
        console.log(`# lint: ${argv.join(' ')} failed`);
        failed = true;
      }
    }
    continue;
  }
  const dir = path.join('test', tier);
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.test.ts'))
        .sort()
        .map((f) => path.join(dir, f))
    : [];
  if (files.length === 0) continue;
  console.log(`\n# ${tier}: ${files.length} file(s)`);
  const result = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${tier === 'unit' ? 2 : 1}`,
      `--test-timeout=${tier === 'unit' ? 60_000 : 600_000}`,
      ...files,
    ],
    { stdio: 'inherit' },
  );
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
