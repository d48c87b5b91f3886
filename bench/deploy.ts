/**
 * Deploys (issue 11, part `deploy`, about 2 minutes): on a loopback stack (127.92.0.0/24)
 * under the chaos load through the LB (reads and writes, 60/s, 4 at a time), the wall
 * time of a two-server `tandem deploy` of a small code change (the deploy's own time from
 * --json, and the cutover alone: the sum of the servers' times, no dependency install),
 * its failed requests, and the load's p99 latency during the deploys against the same
 * load before them. DEPLOY_ROUNDS deploys, alternating two code bases; medians.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Op } from '../src/chaos/history.ts';
import { runWorkload } from '../src/chaos/workload.ts';
import type { StackConfig } from '../src/config/types.ts';
import type { DeployResult } from '../src/orchestrate/deploy.ts';
import { loadPlan } from '../src/orchestrate/config-loader.ts';
import { REPO, sleep, TestStack } from '../test/support/stack.ts';
import { median } from './measure.ts';

type Goal = (figure: string, measured: number, unit: string, op: '≤' | '≥', limit: number, digits?: number) => void;

const ROUNDS = Number(process.env.DEPLOY_ROUNDS ?? 3);

const CONFIG: StackConfig = {
  name: 'bench-deploy',
  hosting: 'loopback',
  network: { subnet: '127.92.0.0/24' },
  hosts: [
    { name: 'lb-1', roles: ['lb'] },
    { name: 'server-1', roles: ['web', 'app', 'db'] },
    { name: 'server-2', roles: ['web', 'app', 'db'] },
  ],
  database: { primary: 'server-1' },
};

function p99(ops: readonly Op[]): number {
  const sorted = ops.map((o) => o.end - o.start).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? NaN;
}

export async function deployBench(goal: Goal): Promise<void> {
  const stack = new TestStack('bench-deploy', CONFIG);
  try {
    await stack.up();
    const plan = await loadPlan(stack.configFile);
    const codes = ['one', 'two'].map((label) => {
      const root = path.join(stack.dir, `code-${label}`);
      fs.cpSync(path.join(REPO, 'src'), path.join(root, 'src'), { recursive: true });
      const file = path.join(root, 'src', 'app', 'routes', 'status.ts');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('/** The public', `/** ${label}: the public`));
      return path.join(root, 'src', 'app');
    });
    const load = (signal: AbortSignal) =>
      runWorkload(plan, {
        runId: `bench${Date.now()}`,
        concurrency: 4,
        durationMs: 600_000,
        maxOps: 200_000,
        ratePerSec: 60,
        timeoutMs: 5000,
        latencyBoundMs: 5000,
        mix: ['page', 'api', 'write'],
        retryWrites: false,
        signal,
      });
    // Before: the same load, no deploy.
    const quiet = new AbortController();
    const beforeOps = load(quiet.signal);
    await sleep(15_000);
    quiet.abort();
    const before = await beforeOps;

    const walls: number[] = [];
    const cutovers: number[] = [];
    const during: Op[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const stop = new AbortController();
      const ops = load(stop.signal);
      await sleep(1000);
      const t0 = Date.now();
      const r = await stack.run('deploy', '--code', codes[i % 2]!, '--json');
      const t1 = Date.now();
      await sleep(500);
      stop.abort();
      if (r.code !== 0) throw new Error(`deploy failed:\n${r.stdout}\n${r.stderr}`);
      const result = JSON.parse(r.stdout) as DeployResult;
      walls.push(result.ms / 1000);
      cutovers.push(result.hosts.reduce((s, h) => s + h.ms, 0) / 1000);
      during.push(...(await ops).filter((o) => o.start >= t0 && o.start <= t1));
      console.log(
        `deploy ${i + 1}: ${(result.ms / 1000).toFixed(2)} s (command ${((t1 - t0) / 1000).toFixed(2)} s), ` +
          `cutover ${cutovers.at(-1)!.toFixed(2)} s, ${result.hosts.map((h) => `${h.host} ${(h.ms / 1000).toFixed(2)} s`).join(', ')}`,
      );
    }
    const failed = during.filter((o) => o.outcome !== 'ok').length;
    console.log(
      `load before: ${before.length} ops, p99 ${p99(before)} ms; during ${ROUNDS} deploys: ${during.length} ops, ` +
        `p99 ${p99(during)} ms, ${failed} failed`,
    );
    goal('two-server deploy wall time (median, release + migrations check + cutover)', median(walls), ' s', '≤', 10);
    goal('two-server cutover alone (median, sum of the servers)', median(cutovers), ' s', '≤', 10);
    goal('failed requests during the deploys', failed, '', '≤', 0, 0);
    goal('p99 during the deploys / p99 before', p99(during) / p99(before), '×', '≤', 2);
  } finally {
    await stack.cleanup();
  }
}
