/**
 * `npm run bench`: figures measured side by side in one run, on fresh stacks in their
 * own temp folders and subnets, torn down at the end.
 *
 * loopback stack (127.70.0.0/24):
 *   - cold `tandem up` on empty state (wall clock)
 *   - wrk on a constant endpoint (/whoami): the app directly vs LB → nginx → app, and the
 *     proxy tax: CPU µs per request spent in HAProxy plus nginx (every process of each,
 *     utime + stime from /proc/PID/stat, over the wrk runs through the LB)
 *   - wrk on the database read page (/) through the whole stack
 *   - wrk on a static asset (the stylesheet, by its hashed name) that nginx serves from
 *     disk, against the constant app endpoint, both through the LB
 * netns stack (10.82.0.0/24, when root):
 *   - cold `tandem up` of the full design (2 LBs, VIP, firewalls, TLS, DNS)
 *   - HTTPS through the VIP from the client namespace vs plain HTTP to the app directly
 *   - VIP failover when the active LB host dies, 5 times: failure window and share failed
 * database failover (part `failover`, not in the default parts: about 25 minutes; see
 * failover.ts): write outage over 10 failovers each of process death, host death and
 * partition; the switchover write pause; write latency with semi-sync against async.
 * the cost of watching (part `monitor`, not in the default parts: about 8 minutes; see
 * monitor.ts): LB throughput with the monitor host against without, Prometheus' memory
 * and CPU, alert latency for kill-server.
 * backups (part `backup`, not in the default parts: about 6 minutes; see backup.ts):
 * backup and restore throughput on ≥ 1 GiB beside a plain copy of the data folder, the
 * restore drill's time, and the recovery point when the primary's host is killed.
 * deploys (part `deploy`, not in the default parts: about 2 minutes; see deploy.ts):
 * two-server deploy wall time and cutover under load, failed requests, p99 during
 * against before.
 * Rounds alternate between targets so machine noise hits them alike; medians reported.
 * Each target is printed as met or missed at the end; the run exits 1 when one is missed.
 *
 *   BENCH_PARTS=loopback,netns,up,scale,failover,monitor,backup,deploy  BENCH_ROUNDS=3  BENCH_SECONDS=8  BENCH_CONNECTIONS=64
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseManifest } from '../src/app/assets.ts';
import type { ServiceKind, StackConfig } from '../src/config/types.ts';
import { backupBench } from './backup.ts';
import { deployBench } from './deploy.ts';
import { failoverBench } from './failover.ts';
import { monitorBench } from './monitor.ts';
import { median, serviceCpu, type WrkResult, wrk as measureWrk } from './measure.ts';
import { upBench } from './scale.ts';
import { clientLoad, exec, outage } from '../test/support/netns.ts';
import { TestStack } from '../test/support/stack.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const PARTS = (process.env.BENCH_PARTS ?? 'loopback,netns').split(',');
const FAILOVERS = Number(process.env.BENCH_FAILOVERS ?? 5);

/** wrk with the bench's duration and connections. */
const wrk = (url: string, host: string, namespace?: string): Promise<WrkResult> =>
  measureWrk(url, host, { seconds: SECONDS, connections: CONNECTIONS, namespace });

interface Target {
  readonly name: string;
  readonly url: string;
  readonly namespace?: string;
  /** CPU seconds used so far by the processes this target's cost is charged to. */
  readonly cpuSeconds?: () => number;
}

/** A figure with its target, printed as met or missed at the end of the run. */
interface Goal {
  readonly figure: string;
  readonly measured: string;
  readonly target: string;
  readonly met: boolean;
}
const goals: Goal[] = [];

function goal(figure: string, measured: number, unit: string, op: '≤' | '≥', limit: number, digits = 2): void {
  const met = op === '≤' ? measured <= limit : measured >= limit;
  goals.push({ figure, measured: `${measured.toFixed(digits)}${unit}`, target: `${op} ${limit}${unit}`, met });
  console.log(
    `${figure}: ${measured.toFixed(digits)}${unit}  (target ${op} ${limit}${unit}: ${met ? 'met' : 'MISSED'})`,
  );
}

/** Warm-up, then ROUNDS alternating rounds over the targets; medians per target. */
async function compare(targets: readonly Target[], host: string) {
  for (const t of targets) await wrk(t.url, host, t.namespace);
  const results = targets.map(() => [] as WrkResult[]);
  const cpuPerRequestUs = targets.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, t] of targets.entries()) {
      const cpuBefore = t.cpuSeconds?.() ?? 0;
      const r = await wrk(t.url, host, t.namespace);
      results[i]!.push(r);
      if (t.cpuSeconds) cpuPerRequestUs[i]!.push(((t.cpuSeconds() - cpuBefore) / r.requests) * 1e6);
    }
  }
  const summary = targets.map((t, i) => ({
    name: t.name,
    cpuUs: cpuPerRequestUs[i]!.length > 0 ? median(cpuPerRequestUs[i]!) : undefined,
    rps: median(results[i]!.map((r) => r.rps)),
    p50ms: median(results[i]!.map((r) => r.p50ms)),
    p99ms: median(results[i]!.map((r) => r.p99ms)),
    errors: results[i]!.reduce((a, r) => a + r.errors, 0),
  }));
  console.log('| path | req/s | p50 ms | p99 ms | errors | proxy CPU µs/request |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const s of summary) {
    const cpu = s.cpuUs === undefined ? '' : s.cpuUs.toFixed(1);
    console.log(
      `| ${s.name} | ${s.rps.toFixed(0)} | ${s.p50ms.toFixed(2)} | ${s.p99ms.toFixed(2)} | ${s.errors} | ${cpu} |`,
    );
  }
  console.log('');
  return summary;
}

/** CPU µs per request of some of the proxies alone, over one more wrk run. */
async function proxyShare(
  stackDir: string,
  url: string,
  services: readonly { host: string; kind: ServiceKind }[],
): Promise<number> {
  const cpu = serviceCpu(stackDir, services);
  const before = cpu();
  const r = await wrk(url, 'www.foobar.com');
  return ((cpu() - before) / r.requests) * 1e6;
}

async function timedUp(stack: TestStack): Promise<number> {
  const t0 = performance.now();
  await stack.up();
  return (performance.now() - t0) / 1000;
}

async function loopbackPart(): Promise<void> {
  const config: StackConfig = { name: 'bench', hosting: 'loopback', network: { subnet: '127.70.0.0/24' } };
  const stack = new TestStack('bench', config);
  try {
    const coldUpS = await timedUp(stack);
    const lb = 'http://127.70.0.11';
    console.log(`\n## loopback — wrk -t2 -c${CONNECTIONS} -d${SECONDS}s, ${ROUNDS} alternating rounds, medians\n`);
    const proxies = [
      { host: 'lb-1', kind: 'haproxy' as const },
      { host: 'server-1', kind: 'nginx' as const },
      { host: 'server-2', kind: 'nginx' as const },
    ];
    // The stylesheet by its hashed name, as the pages link it (wrk asks for no gzip: the plain file).
    const manifestFile = path.join(stack.dir, '.tandem/hosts/server-1/assets/assets.json');
    const asset = parseManifest(fs.readFileSync(manifestFile, 'utf8'), manifestFile)['app.css']!;
    const [direct, viaLb, readPage, staticAsset] = await compare(
      [
        { name: 'app direct /whoami', url: 'http://127.70.0.12:3000/whoami' },
        { name: 'LB → nginx → app /whoami', url: `${lb}/whoami`, cpuSeconds: serviceCpu(stack.dir, proxies) },
        { name: 'LB → nginx → app → db /', url: `${lb}/` },
        { name: `LB → nginx, from disk ${asset}`, url: `${lb}${asset}` },
      ],
      'www.foobar.com',
    );
    const haproxyUs = await proxyShare(stack.dir, `${lb}/whoami`, [proxies[0]!]);
    goal(
      `proxy tax: CPU per request in HAProxy + nginx, LB → nginx → app /whoami (HAProxy alone ${haproxyUs.toFixed(1)} µs; ratio LB path / app direct ${(viaLb!.rps / direct!.rps).toFixed(2)})`,
      viaLb!.cpuUs!,
      ' µs',
      '≤',
      25,
      1,
    );
    goal('ratio read page / constant endpoint (both through the LB)', readPage!.rps / viaLb!.rps, '', '≥', 0.5);
    goal(
      `ratio static asset from nginx's disk / constant app endpoint /whoami (both through the LB; p99 ${staticAsset!.p99ms.toFixed(2)} ms against ${viaLb!.p99ms.toFixed(2)} ms)`,
      staticAsset!.rps / viaLb!.rps,
      '',
      '≥',
      1,
    );
    goal('cold tandem up on empty state (loopback)', coldUpS, ' s', '≤', 10, 1);

    // What the read page costs the database: statements the replica executed per page,
    // with request collapsing (the default) and without it.
    const replicaCnf = path.join(stack.dir, '.tandem/hosts/server-1/mariadb/my.cnf');
    const executed = async () => {
      const r = await exec([
        'mariadb',
        `--defaults-file=${replicaCnf}`,
        '-N',
        '-B',
        '-e',
        "SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'",
      ]);
      return Number(r.stdout.trim().split('\t')[1]);
    };
    const before = await executed();
    const page = await wrk(`${lb}/`, 'www.foobar.com');
    const perPage = ((await executed()) - before) / (page.rps * SECONDS);
    console.log(
      `\nread page with request collapsing: ${page.rps.toFixed(0)} pages/s, ${perPage.toFixed(3)} replica statements per page`,
    );
    stack.writeConfig({ ...config, app: { coalesceReads: false } });
    await stack.up();
    const uncollapsed = await compare(
      [{ name: 'LB → nginx → app → db / (no collapsing)', url: `${lb}/` }],
      'www.foobar.com',
    );
    const before2 = await executed();
    const page2 = await wrk(`${lb}/`, 'www.foobar.com');
    const perPage2 = ((await executed()) - before2) / (page2.rps * SECONDS);
    console.log(`read page without collapsing: ${perPage2.toFixed(3)} replica statements per page`);
    console.log(
      `ratio read page without collapsing / constant endpoint through the LB: ${(uncollapsed[0]!.rps / viaLb!.rps).toFixed(2)}`,
    );
  } finally {
    await stack.cleanup();
  }
}

async function netnsPart(): Promise<void> {
  const name = 'benchns';
  const ns = (host: string) => `tandem-${name}-${host}`;
  const stack = new TestStack('benchns', { name, hosting: 'netns', network: { subnet: '10.82.0.0/24' } });
  try {
    const coldUpS = await timedUp(stack);
    const caFile = (await stack.run('ca')).stdout.trim();
    console.log(`\n## netns — wrk -t2 -c${CONNECTIONS} -d${SECONDS}s, ${ROUNDS} alternating rounds, medians\n`);
    const [direct, https] = await compare(
      [
        // From the app's own host: the firewall admits nobody else to the app port.
        { name: 'app direct, plain HTTP /whoami', url: 'http://10.82.0.13:3000/whoami', namespace: ns('server-1') },
        {
          name: 'client → VIP, HTTPS → nginx → app /whoami',
          url: 'https://www.foobar.com/whoami',
          namespace: ns('client'),
          cpuSeconds: serviceCpu(stack.dir, [
            { host: 'lb-1', kind: 'haproxy' },
            { host: 'lb-2', kind: 'haproxy' },
            { host: 'server-1', kind: 'nginx' },
            { host: 'server-2', kind: 'nginx' },
          ]),
        },
      ],
      'www.foobar.com',
    );
    console.log(
      `ratio HTTPS through the VIP / plain HTTP to the app directly: ${(https!.rps / direct!.rps).toFixed(2)}; CPU per request in HAProxy (TLS) + nginx: ${https!.cpuUs!.toFixed(1)} µs`,
    );
    console.log(`cold tandem up of the full netns design: ${coldUpS.toFixed(1)} s\n`);

    const windows: number[] = [];
    const shares: number[] = [];
    console.log(
      '| failover | killed host | failed | failure window ms | share failed in window | failed after VIP moved |',
    );
    console.log('| ---: | --- | ---: | ---: | ---: | ---: |');
    for (let i = 1; i <= FAILOVERS; i++) {
      const holder = JSON.parse((await stack.run('status', '--json')).stdout).lb.vip.holder as string;
      const running = clientLoad({
        clientNs: ns('client'),
        caFile,
        url: 'https://www.foobar.com/',
        host: 'www.foobar.com',
        paths: ['/whoami'],
        durationMs: 4000,
        concurrency: 4,
        timeoutMs: 500,
      });
      await new Promise((r) => setTimeout(r, 1500));
      // Host death through the public interface: link down first, then every process.
      const fault = JSON.parse((await stack.run('chaos', 'kill-host', 'lb:active', '--json')).stdout) as { at: number };
      const killedAt = fault.at;
      // When did the VIP land on the other LB? Poll its namespace (bounded: 5 s).
      const other = holder === 'lb-1' ? 'lb-2' : 'lb-1';
      let movedAt = 0;
      for (let t = 0; t < 500 && !movedAt; t++) {
        const { stdout } = await exec(['ip', '-n', ns(other), '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
        if (stdout.includes(' 10.82.0.10/')) movedAt = Date.now();
        else await new Promise((r) => setTimeout(r, 10));
      }
      const outcomes = await running;
      const o = outage(outcomes);
      const afterMove = outcomes.filter((x) => x.status !== 200 && movedAt && x.start > movedAt).length;
      windows.push(o.windowMs);
      shares.push(o.failedShare);
      console.log(
        `| ${i} | ${holder} | ${o.failed} of ${outcomes.length} | ${o.windowMs} | ${(o.failedShare * 100).toFixed(0)}% | ${afterMove} (VIP moved ${movedAt ? movedAt - killedAt : '?'} ms after the kill) |`,
      );
      const healed = await stack.run('chaos', 'heal');
      if (healed.code !== 0) throw new Error(`heal failed: ${healed.stdout}\n${healed.stderr}`);
    }
    console.log('');
    console.log(
      `VIP failover when the active LB host dies: median share failed in the window ${(median(shares) * 100).toFixed(0)}% over ${FAILOVERS} runs (keepalived defaults ≈ 3600 ms)`,
    );
    goal('VIP failover when the active LB host dies: median failure window', median(windows), ' ms', '≤', 500, 0);
  } finally {
    await stack.cleanup();
  }
}

/** Every target, met or missed; exit 1 when one is missed. */
function verdict(): void {
  console.log('\n## targets\n');
  console.log('| figure | measured | target | |');
  console.log('| --- | ---: | ---: | --- |');
  for (const g of goals) console.log(`| ${g.figure} | ${g.measured} | ${g.target} | ${g.met ? 'met' : '**missed**'} |`);
  const missed = goals.filter((g) => !g.met);
  console.log(`\n${goals.length - missed.length} of ${goals.length} targets met`);
  if (missed.length > 0) process.exitCode = 1;
}

if (PARTS.includes('loopback')) await loopbackPart();
if (PARTS.includes('netns')) {
  if (process.getuid?.() === 0) await netnsPart();
  else console.log('\n## netns — skipped: network namespaces need root');
}
if (PARTS.includes('failover')) await failoverBench(goal);
if (PARTS.includes('monitor')) await monitorBench(goal);
if (PARTS.includes('backup')) await backupBench(goal);
if (PARTS.includes('deploy')) await deployBench(goal);
verdict();
if (!(await upBench())) process.exitCode = 1;
