/**
 * How long `tandem up` takes, and how that grows with the stack. Each stack lives in
 * its own temp folder and subnet and is destroyed at the end, also on failure.
 *
 *   - cold `up` (empty state) and no-op `up` (a second run that changes nothing) of the
 *     default netns design and of the default loopback design: medians of BENCH_UP_RUNS
 *   - netns stacks with 2, 4 and 8 servers (web + app; the first two also db) behind the
 *     LB pair: cold `up`, and LB throughput with wrk from the client namespace
 *
 *   BENCH_UP_RUNS=3  BENCH_SCALE=2,4,8  BENCH_SCALE_SECONDS=5  BENCH_PARTS (…,up,scale)
 */
import type { HostConfig, StackConfig } from '../src/config/types.ts';
import { inNs } from '../test/support/netns.ts';
import { TestStack } from '../test/support/stack.ts';

const RUNS = Number(process.env.BENCH_UP_RUNS ?? 3);
const SIZES = (process.env.BENCH_SCALE ?? '2,4,8').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SCALE_SECONDS ?? 5);
const PARTS = (process.env.BENCH_PARTS ?? 'loopback,netns,up,scale').split(',');
/** Targets of issue 7 for the full netns design. */
const COLD_TARGET_S = 5;
const NOOP_TARGET_S = 1;

export interface UpFigures {
  readonly coldS: number;
  readonly noopS: number;
}

const middle = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** Cold `up`, then two no-op `up`s, of one fresh stack per run; medians. */
async function upTimes(label: string, config: StackConfig): Promise<UpFigures> {
  const cold: number[] = [];
  const noop: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const stack = new TestStack(label, config);
    try {
      cold.push(await timed(() => stack.up()));
      for (let j = 0; j < 2; j++) {
        const t0 = performance.now();
        const r = await stack.up();
        noop.push((performance.now() - t0) / 1000);
        if (!r.stdout.includes('nothing to change')) throw new Error(`a second up changed something:\n${r.stdout}`);
      }
    } finally {
      await stack.cleanup();
    }
  }
  return { coldS: middle(cold), noopS: middle(noop) };
}

/** lb-1 and lb-2, then `servers` hosts with web and app; the first two also hold the databases. */
export function scaledHosts(servers: number): HostConfig[] {
  return [
    { name: 'lb-1', roles: ['lb'] },
    { name: 'lb-2', roles: ['lb'] },
    ...Array.from({ length: servers }, (_, i): HostConfig => ({
      name: `server-${i + 1}`,
      roles: i < 2 ? ['web', 'app', 'db'] : ['web', 'app'],
    })),
  ];
}

/** Requests per second through the VIP over HTTPS, from the client namespace (bounded by SECONDS). */
async function lbThroughput(stackName: string): Promise<number> {
  const argv = ['wrk', '-t2', '-c32', `-d${SECONDS}s`, 'https://www.foobar.com/whoami'];
  const r = await inNs(`tandem-${stackName}-client`, argv, (SECONDS + 30) * 1000);
  if (r.code !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
  if (non2xx > 0) throw new Error(`wrk: ${non2xx} responses were not 2xx`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
}

const verdict = (value: number, target: number) => (value <= target ? 'met' : 'MISSED');

/** Prints the figures; returns false when a target was missed. */
export async function upBench(): Promise<boolean> {
  let met = true;
  if (PARTS.includes('up')) {
    console.log(`\n## tandem up — cold and no-op, medians of ${RUNS} runs\n`);
    console.log('| stack | cold up s | no-op up s |');
    console.log('| --- | ---: | ---: |');
    const loopback = await upTimes('benchup', {
      name: 'benchup',
      hosting: 'loopback',
      network: { subnet: '127.71.0.0/24' },
    });
    console.log(`| loopback, default design | ${loopback.coldS.toFixed(1)} | ${loopback.noopS.toFixed(2)} |`);
    if (process.getuid?.() === 0) {
      const netns = await upTimes('benchup', {
        name: 'benchup',
        hosting: 'netns',
        network: { subnet: '10.83.0.0/24' },
      });
      console.log(`| netns, default design | ${netns.coldS.toFixed(1)} | ${netns.noopS.toFixed(2)} |\n`);
      console.log(
        `cold up of the full netns design: ${netns.coldS.toFixed(1)} s (target ≤ ${COLD_TARGET_S} s: ${verdict(netns.coldS, COLD_TARGET_S)})`,
      );
      console.log(
        `no-op up of the full netns design: ${netns.noopS.toFixed(2)} s (target ≤ ${NOOP_TARGET_S} s: ${verdict(netns.noopS, NOOP_TARGET_S)})`,
      );
      met = netns.coldS <= COLD_TARGET_S && netns.noopS <= NOOP_TARGET_S;
    }
  }
  if (PARTS.includes('scale') && process.getuid?.() === 0) {
    console.log(
      `\n## tandem up as the stack grows (netns, 2 LBs, wrk -t2 -c32 -d${SECONDS}s over HTTPS via the VIP)\n`,
    );
    console.log('| servers | hosts | services | cold up s | LB req/s |');
    console.log('| ---: | ---: | ---: | ---: | ---: |');
    for (const servers of SIZES) {
      const name = `benchsc${servers}`;
      const config: StackConfig = {
        name,
        hosting: 'netns',
        network: { subnet: '10.84.0.0/24' },
        hosts: scaledHosts(servers),
        database: { primary: 'server-2' },
      };
      const stack = new TestStack(name, config);
      try {
        const coldS = await timed(() => stack.up());
        const services = (await stack.status()).hosts.reduce((n, h) => n + h.services.length, 0);
        const rps = await lbThroughput(name);
        console.log(`| ${servers} | ${servers + 2} | ${services} | ${coldS.toFixed(1)} | ${rps.toFixed(0)} |`);
      } finally {
        await stack.cleanup();
      }
    }
  }
  return met;
}
