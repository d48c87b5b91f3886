/**
 * The cost of watching (issue 9), part `monitor` of `npm run bench` (not in the default
 * parts: about 8 minutes). Two netns stacks of the default design in their own subnets:
 * one with the monitor host (Prometheus scraping every exporter every 5 s), one without it
 * (no monitor host, hence no exporter at all). Only one of them runs at a time.
 *
 *   - LB throughput and latency, monitoring on against off: wrk over HTTPS through the VIP
 *     from the client namespace. Each measurement brings its stack up, lets it settle (with
 *     the monitor: every target scraped), warms up, measures, and takes it down again;
 *     rounds alternate on/off and off/on, so machine noise and order hit both alike.
 *     Medians, and the median of each round's on/off ratio.
 *   - The monitoring processes' CPU during those runs, and Prometheus' (and every monitor
 *     engine's) memory and CPU on the idle stack over a window.
 *   - The app's per-request log on against off, the app alone (app-log.ts); HAProxy's
 *     and nginx's request logs have no switch.
 *   - Alert latency for kill-server: `tandem chaos kill-host server-1`, then Prometheus'
 *     alerts polled until BackendServerDown fires for server-1 (on one LB, on both), and
 *     Alertmanager's until it holds it; healed and resolved before the next run.
 *
 *   BENCH_MONITOR=log,cost,alert,footprint  BENCH_MONITOR_ROUNDS=5  BENCH_SECONDS=8  BENCH_CONNECTIONS=64  BENCH_ALERT_RUNS=5
 *   BENCH_MONITOR_WINDOW_S=60
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ServiceKind, StackConfig } from '../src/config/types.ts';
import { sleep, TestStack } from '../test/support/stack.ts';
import { appLogCost } from './app-log.ts';
import type { Goal } from './failover.ts';
import { cpuOf, median, rssOf, serviceCpu, servicePids, type StackService, type WrkResult, wrk } from './measure.ts';

const KINDS = (process.env.BENCH_MONITOR ?? 'log,cost,alert,footprint').split(',');
const ROUNDS = Number(process.env.BENCH_MONITOR_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const ALERT_RUNS = Number(process.env.BENCH_ALERT_RUNS ?? 5);
const WINDOW_S = Number(process.env.BENCH_MONITOR_WINDOW_S ?? 60);
/** Issue 9's target: throughput with monitoring at most 3% lower. */
const RATIO_TARGET = 0.97;
/** Every bounded wait of this part: targets up, an alert firing or resolving. */
const WAIT_MS = 60_000;
const WARMUP_S = 3;

const HOSTS = ['lb-1', 'lb-2', 'server-1', 'server-2', 'monitor'] as const;

/** Every service that exists only because a monitor watches the stack, by kind. */
const MONITOR_SERVICES: Readonly<Record<string, readonly StackService[]>> = {
  prometheus: [{ host: 'monitor', kind: 'prometheus' }],
  alertmanager: [{ host: 'monitor', kind: 'alertmanager' }],
  'blackbox-exporter': [{ host: 'monitor', kind: 'blackbox-exporter' }],
  'node-exporter': HOSTS.map((host) => ({ host, kind: 'node-exporter' as ServiceKind })),
  'mysqld-exporter': ['server-1', 'server-2'].map((host) => ({ host, kind: 'mysqld-exporter' as ServiceKind })),
  'nginx-exporter': ['server-1', 'server-2'].map((host) => ({ host, kind: 'nginx-exporter' as ServiceKind })),
};

interface Side {
  readonly label: 'on' | 'off';
  readonly stack: TestStack;
  readonly name: string;
  readonly subnet: string;
}

function side(label: 'on' | 'off', name: string, subnet: string): Side {
  const config: StackConfig = { name, hosting: 'netns', network: { subnet: `${subnet}.0/24` } };
  return { label, name, subnet, stack: new TestStack(name, config, { monitored: label === 'on' }) };
}

const prometheusUrl = (s: Side) => `http://${s.subnet}.15:9090`;
const alertmanagerUrl = (s: Side) => `http://${s.subnet}.15:9093`;

async function api<T>(url: string): Promise<T> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status}`);
  return ((await r.json()) as { data: T }).data;
}

/** Polls `check` every `everyMs` until it returns a value; throws after WAIT_MS. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, everyMs = 250): Promise<T> {
  const start = Date.now();
  while (Date.now() - start < WAIT_MS) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(everyMs);
  }
  throw new Error(`${what}: not within ${WAIT_MS} ms`);
}

/** Every target Prometheus scrapes answered its last scrape. */
async function allTargetsUp(s: Side): Promise<number> {
  return waitFor(`${s.name}: every Prometheus target up`, async () => {
    const { activeTargets } = await api<{ activeTargets: { health: string }[] }>(`${prometheusUrl(s)}/api/v1/targets`);
    return activeTargets.length > 0 && activeTargets.every((t) => t.health === 'up') ? activeTargets.length : undefined;
  });
}

/** Every service of the stack as it runs: the folders `up` made under .tandem/hosts/<host>/<kind>. */
function everyService(s: Side): StackService[] {
  const dirs = (dir: string) =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  const hosts = path.join(s.stack.dir, '.tandem/hosts');
  return dirs(hosts).flatMap((host) =>
    dirs(path.join(hosts, host)).map((kind) => ({ host, kind: kind as ServiceKind })),
  );
}

/** CPU seconds of every monitoring process of the stack (0 without a monitor). */
function monitoringCpu(s: Side, kinds = Object.keys(MONITOR_SERVICES)): number {
  return kinds
    .flatMap((k) => MONITOR_SERVICES[k]!)
    .flatMap((svc) => servicePids(s.stack.dir, svc))
    .reduce((a, p) => a + cpuOf(p), 0);
}

interface Measurement {
  readonly side: 'on' | 'off';
  readonly round: number;
  readonly wrk: WrkResult;
  /** Share of one core the monitoring processes used during the wrk run. */
  readonly monitorCpu: number;
  readonly prometheusCpu: number;
  /** CPU µs per request of every process of the stack (each engine, exporter and app). */
  readonly stackCpuUs: number;
  /** The same by kind of service (every host's together): where the CPU per request goes. */
  readonly kindCpuUs: Readonly<Record<string, number>>;
  readonly load: number;
}

/** Up, settle, warm up, one wrk run, down (a failure leaves the stack to monitorBench's cleanup). */
async function measure(s: Side, round: number): Promise<Measurement> {
  await s.stack.up();
  if (s.label === 'on') await allTargetsUp(s);
  const opts = { connections: CONNECTIONS, namespace: `tandem-${s.name}-client` };
  const url = 'https://www.foobar.com/whoami';
  await wrk(url, 'www.foobar.com', { ...opts, seconds: WARMUP_S });
  const load = os.loadavg()[0]!;
  const services = everyService(s);
  const stackCpu = serviceCpu(s.stack.dir, services);
  const kinds = [...new Set(services.map((x) => x.kind))];
  const kindCpu = () =>
    Object.fromEntries(
      kinds.map((k) => [
        k,
        serviceCpu(
          s.stack.dir,
          services.filter((x) => x.kind === k),
        )(),
      ]),
    );
  const kinds0 = kindCpu();
  const [cpu0, prom0, all0, t0] = [monitoringCpu(s), monitoringCpu(s, ['prometheus']), stackCpu(), performance.now()];
  const r = await wrk(url, 'www.foobar.com', { ...opts, seconds: SECONDS });
  const elapsedS = (performance.now() - t0) / 1000;
  const m: Measurement = {
    side: s.label,
    round,
    wrk: r,
    monitorCpu: (monitoringCpu(s) - cpu0) / elapsedS,
    prometheusCpu: (monitoringCpu(s, ['prometheus']) - prom0) / elapsedS,
    stackCpuUs: ((stackCpu() - all0) / r.requests) * 1e6,
    kindCpuUs: Object.fromEntries(
      Object.entries(kindCpu()).map(([k, v]) => [k, ((v - kinds0[k]!) / r.requests) * 1e6]),
    ),
    load,
  };
  const down = await s.stack.run('down');
  if (down.code !== 0) throw new Error(`${s.name}: tandem down failed:\n${down.stdout}\n${down.stderr}`);
  return m;
}

const fmt = (n: number, digits = 0) => n.toFixed(digits);

/** Throughput and latency with monitoring on against off; the median of the paired ratios. */
async function costOfWatching(on: Side, off: Side, goal: Goal): Promise<void> {
  console.log(
    `\n## the cost of watching — wrk -t2 -c${CONNECTIONS} -d${SECONDS}s over HTTPS through the VIP, ${ROUNDS} rounds alternating on/off, medians\n`,
  );
  const runs: Measurement[] = [];
  console.log(
    '| round | monitoring | req/s | p50 ms | p99 ms | errors | monitoring CPU (cores) | Prometheus CPU | stack CPU µs/request | load |',
  );
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? [on, off] : [off, on];
    for (const s of order) {
      const m = await measure(s, round);
      runs.push(m);
      console.log(
        `| ${round} | ${m.side} | ${fmt(m.wrk.rps)} | ${fmt(m.wrk.p50ms, 2)} | ${fmt(m.wrk.p99ms, 2)} | ${m.wrk.errors} | ${fmt(m.monitorCpu, 3)} | ${fmt(m.prometheusCpu, 3)} | ${fmt(m.stackCpuUs, 1)} | ${fmt(m.load, 1)} |`,
      );
    }
  }
  const of = (label: 'on' | 'off') => runs.filter((r) => r.side === label);
  const summary = (label: 'on' | 'off') => {
    const rs = of(label);
    return {
      rps: median(rs.map((r) => r.wrk.rps)),
      p50: median(rs.map((r) => r.wrk.p50ms)),
      p99: median(rs.map((r) => r.wrk.p99ms)),
      errors: rs.reduce((a, r) => a + r.wrk.errors, 0),
      cpu: median(rs.map((r) => r.monitorCpu)),
      stackCpuUs: median(rs.map((r) => r.stackCpuUs)),
    };
  };
  const [a, b] = [summary('on'), summary('off')];
  const paired = Array.from({ length: ROUNDS }, (_, i) => {
    const [x, y] = [of('on')[i]!, of('off')[i]!];
    return x.wrk.rps / y.wrk.rps;
  });
  console.log('\n| monitoring | req/s | p50 ms | p99 ms | errors | monitoring CPU (cores) | stack CPU µs/request |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [label, s] of [
    ['on', a],
    ['off', b],
  ] as const) {
    console.log(
      `| ${label} | ${fmt(s.rps)} | ${fmt(s.p50, 2)} | ${fmt(s.p99, 2)} | ${s.errors} | ${fmt(s.cpu, 3)} | ${fmt(s.stackCpuUs, 1)} |`,
    );
  }
  console.log(
    `\nratio on/off: req/s ${fmt(a.rps / b.rps, 3)} (medians), ${fmt(median(paired), 3)} (median of the rounds' ratios: ${paired.map((p) => fmt(p, 3)).join(', ')}); p50 ${fmt(a.p50 / b.p50, 2)}, p99 ${fmt(a.p99 / b.p99, 2)}`,
  );
  // With both cores busy, what the monitoring processes take is what the LB path loses:
  // an estimate that does not depend on throughput noise between rounds.
  console.log(
    `the monitoring processes took ${fmt((a.cpu / os.cpus().length) * 100, 1)}% of the machine's CPU (${os.cpus().length} cores) during the load runs with monitoring on`,
  );
  // CPU per request of the whole stack moves less with the machine's other work than
  // throughput does, and counts what answering the scrapes costs HAProxy, the apps and MariaDB.
  console.log(
    `CPU per request of every process of the stack: ${fmt(a.stackCpuUs, 1)} µs with monitoring, ${fmt(b.stackCpuUs, 1)} µs without (ratio ${fmt(a.stackCpuUs / b.stackCpuUs, 3)})`,
  );
  const kinds = [...new Set(runs.flatMap((r) => Object.keys(r.kindCpuUs)))].sort();
  console.log('\n| service kind | CPU µs/request, on (median) | off (median) |');
  console.log('| --- | ---: | ---: |');
  for (const k of kinds) {
    const med = (label: 'on' | 'off') => {
      const xs = of(label).flatMap((r) => (k in r.kindCpuUs ? [r.kindCpuUs[k]!] : []));
      return xs.length > 0 ? fmt(median(xs), 1) : '';
    };
    console.log(`| ${k} | ${med('on')} | ${med('off')} |`);
  }
  goal(
    'the cost of watching: LB req/s with monitoring / without (median of paired rounds)',
    median(paired),
    '',
    '≥',
    RATIO_TARGET,
    3,
  );
}

interface AlertRun {
  readonly run: number;
  /** ms from the fault to the alert pending, firing on the first LB, on both, and in Alertmanager. */
  readonly pendingMs: number;
  readonly firstMs: number;
  readonly bothMs: number;
  readonly alertmanagerMs: number;
  readonly resolvedMs: number;
}

interface PromAlert {
  labels: Record<string, string>;
  state: string;
}

const serverDown = async (s: Side): Promise<PromAlert[]> =>
  (await api<{ alerts: PromAlert[] }>(`${prometheusUrl(s)}/api/v1/alerts`)).alerts.filter(
    (a) => a.labels.alertname === 'BackendServerDown' && a.labels.server === 'server-1',
  );

async function inAlertmanager(s: Side): Promise<boolean> {
  const r = await fetch(`${alertmanagerUrl(s)}/api/v2/alerts?filter=alertname%3D%22BackendServerDown%22`, {
    signal: AbortSignal.timeout(5000),
  });
  const list = (await r.json()) as { labels: Record<string, string> }[];
  return list.some((x) => x.labels.server === 'server-1');
}

/** kill-host server-1, then each stage of BackendServerDown timed from the fault; heal, resolve. */
async function alertRun(s: Side, run: number): Promise<AlertRun> {
  const killed = await s.stack.run('chaos', 'kill-host', 'server-1', '--json');
  if (killed.code !== 0) throw new Error(`kill-host failed:\n${killed.stdout}\n${killed.stderr}`);
  const at = (JSON.parse(killed.stdout) as { at: number }).at;
  const times = { pendingMs: 0, firstMs: 0, bothMs: 0, alertmanagerMs: 0 };
  await waitFor(
    'BackendServerDown for server-1 firing on both LBs and in Alertmanager',
    async () => {
      const now = Date.now() - at;
      const alerts = await serverDown(s);
      const firing = alerts.filter((x) => x.state === 'firing').length;
      if (!times.pendingMs && alerts.length > 0) times.pendingMs = now;
      if (!times.firstMs && firing > 0) times.firstMs = now;
      if (!times.bothMs && firing === 2) times.bothMs = now;
      if (times.firstMs && !times.alertmanagerMs && (await inAlertmanager(s))) times.alertmanagerMs = now;
      return times.bothMs && times.alertmanagerMs ? true : undefined;
    },
    100,
  );
  const healed = await s.stack.run('chaos', 'heal');
  if (healed.code !== 0) throw new Error(`heal failed:\n${healed.stdout}\n${healed.stderr}`);
  const healedAt = Date.now();
  await waitFor('BackendServerDown resolved', async () => ((await serverDown(s)).length === 0 ? true : undefined));
  const resolvedMs = Date.now() - healedAt;
  await allTargetsUp(s);
  return { run, ...times, resolvedMs };
}

async function alertLatency(s: Side): Promise<void> {
  console.log(
    `\n## alert latency for kill-server — chaos kill-host server-1 → BackendServerDown (scrape and evaluation every 5 s, for: 5s), ${ALERT_RUNS} runs\n`,
  );
  console.log(
    '| run | pending ms | firing (first LB) ms | firing (both LBs) ms | in Alertmanager ms | resolved after heal ms |',
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
  const runs: AlertRun[] = [];
  for (let i = 1; i <= ALERT_RUNS; i++) {
    const r = await alertRun(s, i);
    runs.push(r);
    console.log(`| ${i} | ${r.pendingMs} | ${r.firstMs} | ${r.bothMs} | ${r.alertmanagerMs} | ${r.resolvedMs} |`);
  }
  console.log('');
  const stages: [string, keyof AlertRun][] = [
    ['fault → BackendServerDown firing (first LB)', 'firstMs'],
    ['fault → BackendServerDown firing (both LBs)', 'bothMs'],
    ['fault → in Alertmanager', 'alertmanagerMs'],
    ['heal → resolved in Prometheus', 'resolvedMs'],
  ];
  for (const [what, key] of stages) {
    const xs = runs.map((r) => r[key]);
    console.log(`${what}: median ${fmt(median(xs))} ms, max ${fmt(Math.max(...xs))} ms`);
  }
}

/** CPU (share of a core) and memory of each monitor engine on the idle stack over WINDOW_S. */
async function monitorFootprint(s: Side, startedAt: number): Promise<void> {
  const kinds = Object.keys(MONITOR_SERVICES);
  const pidsOf = (k: string) => MONITOR_SERVICES[k]!.flatMap((svc) => servicePids(s.stack.dir, svc));
  const rss = (k: string) => pidsOf(k).reduce((a, p) => a + rssOf(p), 0);
  const samples = new Map(kinds.map((k) => [k, [] as number[]]));
  const cpu0 = new Map(kinds.map((k) => [k, monitoringCpu(s, [k])]));
  const t0 = performance.now();
  const ageS = (Date.now() - startedAt) / 1000;
  const seriesOf = async () =>
    (
      await api<{ result: { value: [number, string] }[] }>(
        `${prometheusUrl(s)}/api/v1/query?query=prometheus_tsdb_head_series`,
      )
    ).result[0]?.value[1];
  for (let t = 0; t <= WINDOW_S; t += 5) {
    for (const k of kinds) samples.get(k)!.push(rss(k));
    if (t < WINDOW_S) await sleep(5000);
  }
  const elapsedS = (performance.now() - t0) / 1000;
  console.log(
    `\n## the monitor's footprint on the idle default stack — ${WINDOW_S} s window, Prometheus up for ${fmt(ageS)} s at its start, ${await seriesOf()} series in its head block; RSS sampled every 5 s\n`,
  );
  console.log('| engine | processes | CPU (share of one core) | RSS median MiB | RSS max MiB |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  const mib = (b: number) => fmt(b / 2 ** 20, 1);
  let totalCpu = 0;
  for (const k of kinds) {
    const cpu = (monitoringCpu(s, [k]) - cpu0.get(k)!) / elapsedS;
    totalCpu += cpu;
    const xs = samples.get(k)!;
    console.log(
      `| ${k} | ${MONITOR_SERVICES[k]!.length} | ${fmt(cpu, 4)} | ${mib(median(xs))} | ${mib(Math.max(...xs))} |`,
    );
  }
  console.log(
    `\nevery monitoring process together: ${fmt(totalCpu, 4)} of one core (the machine has ${os.cpus().length})`,
  );
}

export async function monitorBench(goal: Goal): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('\n## the cost of watching — skipped: network namespaces need root');
    return;
  }
  if (KINDS.includes('log')) await appLogCost({ rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS });
  const on = side('on', 'benchmon', '10.88.0');
  const off = side('off', 'benchoff', '10.89.0');
  try {
    if (KINDS.includes('cost')) await costOfWatching(on, off, goal);
    if (!KINDS.includes('alert') && !KINDS.includes('footprint')) return;
    await on.stack.up();
    const startedAt = Date.now();
    await allTargetsUp(on);
    if (KINDS.includes('alert')) await alertLatency(on);
    if (KINDS.includes('footprint')) await monitorFootprint(on, startedAt);
  } finally {
    await on.stack.cleanup();
    await off.stack.cleanup();
  }
}
