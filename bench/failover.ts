/**
 * Database failover (issue 8), part `failover` of `npm run bench`. One stack per hosting
 * kind, with `database: { failover: true }`, reused for every repeated run; each run is
 * `tandem chaos run <scenario> --json`, and the stack must be healthy (leader key held
 * by the primary, an eligible replica, semi-sync live, every replica replicating, etcd
 * whole) before it starts, else the bench stops with what was wrong.
 *
 *   - kill: kill-db-primary (engine and supervisor) × BENCH_FAILOVER_RUNS, loopback
 *   - host: kill-host-db-primary × BENCH_FAILOVER_RUNS, netns
 *   - partition: partition-db-primary × BENCH_FAILOVER_RUNS, netns
 *   - switchover: switchover-under-load × BENCH_SWITCHOVERS, loopback
 *   - latency: write latency with semi-sync (the failover stack) against asynchronous
 *     replication (a stack with `semiSync: false`), both loopback, alternating rounds
 *
 * Every run's figures go to BENCH_FAILOVER_OUT/runs.json (default: a new folder under
 * /tmp); a run that broke a promise also leaves its history and every sentinel's log there.
 *
 *   BENCH_FAILOVER=kill,host,partition,switchover,latency  BENCH_FAILOVER_RUNS=10
 *   BENCH_SWITCHOVERS=5  BENCH_ROUNDS=3  BENCH_FAILOVER_WRITES=1000  BENCH_FAILOVER_OUT=<dir>
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { ScenarioReport } from '../src/chaos/run.ts';
import { servicePaths } from '../src/config/paths.ts';
import type { StackConfig } from '../src/config/types.ts';
import type { StackStatus } from '../src/orchestrate/status.ts';
import { sleep, TestStack } from '../test/support/stack.ts';

const KINDS = (process.env.BENCH_FAILOVER ?? 'kill,host,partition,switchover,latency').split(',');
const RUNS = Number(process.env.BENCH_FAILOVER_RUNS ?? 10);
const SWITCHOVERS = Number(process.env.BENCH_SWITCHOVERS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WRITES = Number(process.env.BENCH_FAILOVER_WRITES ?? 1000);
/** How long the stack may take to be whole again after a run (the old primary rejoining). */
const HEALTHY_WITHIN_MS = 90_000;
/** A latency round stops here even if it has not sent its WRITES. */
const ROUND_DEADLINE_MS = 60_000;

/** A figure checked against its target; the caller prints them all at the end. */
export type Goal = (
  figure: string,
  measured: number,
  unit: string,
  op: '≤' | '≥',
  limit: number,
  digits?: number,
) => void;

/** One failover (or switchover) run, as recorded in runs.json. */
interface RunRecord {
  readonly scenario: string;
  readonly hosting: string;
  readonly run: number;
  readonly at: string;
  /** The machine's 1-minute load average when the run started (2 cores: above 2, runs queue for CPU). */
  readonly load: number;
  readonly from: string;
  readonly to: string | null;
  readonly verdict: string;
  readonly reason: string;
  /** Write outage (kill/host/partition) or write pause (switchover), ms; null: writes never came back. */
  readonly outageMs: number | null;
  readonly promotedAfterMs: number | null;
  readonly failed: number;
  readonly failedWrites: number;
  readonly acknowledged: number;
  readonly lost: number;
  /** Windows in which the sightings prove two databases writable at once. */
  readonly twoWritable: number;
  /** Database hosts with no `read_only` sighting in the run: two writable not ruled out. */
  readonly unsampled: readonly string[];
  readonly unsafe: string | null;
  /**
   * Set when the fault did not hit the primary of that moment (chaos resolves `db:primary`
   * by probing `read_only`; see the report): the run tested no failover and is left out
   * of the figures.
   */
  readonly missedPrimary: string | null;
  /** Where the run's history, report and the sentinels' logs were kept. */
  readonly evidence: string;
}

const records: RunRecord[] = [];
/** Where runs.json and the evidence go; set when the part starts (importing this module creates nothing). */
let OUT = '';

/** Nearest-rank quantile; NaN over an empty list. */
function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** What keeps the stack from taking the next failover, or undefined when it is whole. */
export function unhealthy(s: StackStatus): string | undefined {
  const f = s.db.failover;
  if (!f) return 'no failover status (is database.failover on?)';
  if (f.error) return `etcd unreadable: ${f.error}`;
  if (f.leader !== s.db.primary) return `leader key held by ${f.leader ?? 'nobody'}, primary ${s.db.primary}`;
  if (!f.eligible || f.eligible === f.leader) return `no eligible replica (eligible: ${f.eligible ?? 'none'})`;
  const problems: string[] = [];
  for (const i of s.db.instances) {
    if (!i.up) problems.push(`${i.host} down`);
    else if (i.host === s.db.primary) {
      if (i.readOnly !== false) problems.push(`primary ${i.host} read-only`);
      if (i.semiSyncLive !== true) problems.push(`primary ${i.host}: semi-sync not live`);
    } else {
      if (i.readOnly !== true) problems.push(`replica ${i.host} writable`);
      if (!i.replication?.ioRunning || !i.replication.sqlRunning)
        problems.push(`replica ${i.host} not replicating (${i.replication?.lastError || 'threads stopped'})`);
    }
  }
  for (const t of f.sentinels) if (t.diverged) problems.push(`sentinel ${t.host}: diverged (${t.diverged})`);
  const sick = s.etcd?.members.filter((m) => !m.healthy) ?? [];
  if (sick.length > 0) problems.push(`etcd member(s) unhealthy: ${sick.map((m) => m.name).join(', ')}`);
  const down = s.hosts.flatMap((h) => h.services).filter((x) => x.state !== 'running');
  if (down.length > 0) problems.push(`not running: ${down.map((x) => `${x.id} (${x.state})`).join(', ')}`);
  return problems.length > 0 ? problems.join('; ') : undefined;
}

/** Waits (bounded) until the stack is whole; throws what was still wrong. */
async function waitHealthy(stack: TestStack, before: string): Promise<StackStatus> {
  const deadline = Date.now() + HEALTHY_WITHIN_MS;
  let why = '';
  for (;;) {
    const s = await stack.status().catch((err: Error) => err);
    if (!(s instanceof Error)) {
      const problem = unhealthy(s);
      if (!problem) return s;
      why = problem;
    } else why = s.message.split('\n')[0]!;
    if (Date.now() > deadline) {
      const kept = keepLogs(stack, path.join(OUT, `unhealthy-after-${before.replace(/\s+/g, '-')}`));
      fs.writeFileSync(path.join(kept, 'status.json'), JSON.stringify(s, null, 2));
      throw new Error(
        `${stack.name}: the stack is not healthy ${HEALTHY_WITHIN_MS / 1000} s after ${before}: ${why}\n` +
          `its status, the sentinels' logs and every service's output are kept in ${kept}`,
      );
    }
    await sleep(1000);
  }
}

/** Copies the output (and MariaDB's own log) of each service of `kinds` (default: all) into `dir`. */
function keepLogs(stack: TestStack, dir: string, kinds?: readonly string[]): string {
  fs.mkdirSync(dir, { recursive: true });
  const hosts = path.join(stack.dir, '.tandem/hosts');
  for (const host of fs.readdirSync(hosts))
    for (const kind of fs.readdirSync(path.join(hosts, host)).filter((k) => !kinds || kinds.includes(k)))
      for (const file of ['output.log', `${kind}.log`]) {
        const from = path.join(hosts, host, kind, file);
        if (fs.existsSync(from)) fs.copyFileSync(from, path.join(dir, `${kind}-${host}-${file}`));
      }
  return dir;
}

/** Copies a run's history, report and every sentinel's log where the stack's cleanup won't reach. */
function keepEvidence(stack: TestStack, report: ScenarioReport, label: string): string {
  const dir = path.join(OUT, label);
  fs.mkdirSync(dir, { recursive: true });
  if (report.historyFile && fs.existsSync(report.historyFile))
    fs.copyFileSync(report.historyFile, path.join(dir, path.basename(report.historyFile)));
  keepLogs(stack, dir, ['sentinel']);
  fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify(report, null, 2));
  return dir;
}

const num = (v: unknown) => (v === null || v === undefined || v === '' ? null : Number(v));

/** Runs whose fault missed the primary are run again, at most this many times per kind. */
const EXTRA_RUNS = 5;

/** `runs` times `scenario` on a healthy stack (each a failover of the primary of the moment), one row per run. */
async function repeat(stack: TestStack, hosting: string, scenario: string, runs: number): Promise<RunRecord[]> {
  const pause = scenario === 'switchover-under-load';
  console.log(`\n### ${scenario} (${hosting}), ${runs} runs\n`);
  console.log(
    `| run | from → to | ${pause ? 'write pause' : 'write outage'} ms | promoted after ms | failed requests | failed writes | writes acknowledged | lost | two writable | load | verdict |`,
  );
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  const out: RunRecord[] = [];
  let valid = 0;
  for (let i = 1; valid < runs && i <= runs + EXTRA_RUNS; i++) {
    const from = (await waitHealthy(stack, i === 1 ? 'up' : `run ${i - 1}`)).db.primary;
    const at = new Date().toISOString();
    const load = os.loadavg()[0]!;
    const { report } = await stack.scenario(scenario);
    const c = report.check;
    const f = report.figures;
    const lost = c?.writes.lost.length ?? Number.NaN;
    const twoWritable = c?.writableOverlaps.length ?? Number.NaN;
    const unsampled = c?.unsampledDbs ?? [];
    const hit = report.faults[0]?.hosts?.[0];
    // A switchover that failed names no host: it counts, as broken.
    const missedPrimary =
      hit === undefined || hit === from
        ? null
        : `the ${pause ? 'switchover' : 'fault'} hit ${hit}, not the primary ${from}`;
    const unsafe = [
      c?.finalStateError && `final state unreadable: ${c.finalStateError}`,
      c && c.writes.duplicated.length > 0 && `${c.writes.duplicated.length} duplicated`,
      c && c.rywViolations.length > 0 && `${c.rywViolations.length} read-your-writes violations`,
      c && c.divergence.length > 0 && `diverged: ${c.divergence.join('; ')}`,
      report.healError && `heal: ${report.healError.split('\n')[0]}`,
      report.restartedHung?.length && `hung: ${report.restartedHung.join(', ')}`,
    ].filter(Boolean);
    const record: RunRecord = {
      scenario,
      hosting,
      run: i,
      at,
      load,
      from,
      to: (f.promotedTo as string | null) ?? null,
      verdict: report.verdict,
      reason: report.reason,
      outageMs: num(pause ? f.writePauseMs : f.writeOutageMs),
      promotedAfterMs: num(f.promotedAfterMs),
      failed: c?.failed ?? Number.NaN,
      failedWrites: c?.byKind.write.failed ?? Number.NaN,
      acknowledged: c?.writes.acknowledged ?? 0,
      lost,
      twoWritable,
      unsampled,
      unsafe: unsafe.length > 0 ? unsafe.join('; ') : null,
      missedPrimary,
      evidence: keepEvidence(stack, report, `${scenario}-${i}`),
    };
    if (!missedPrimary) valid += 1;
    out.push(record);
    records.push(record);
    fs.writeFileSync(path.join(OUT, 'runs.json'), JSON.stringify(records, null, 2));
    console.log(
      `| ${i} | ${from} → ${record.to ?? '?'} | ${record.outageMs ?? 'never'} | ${record.promotedAfterMs ?? '—'} | ${record.failed} | ${record.failedWrites} | ${record.acknowledged} | ${lost} | ${twoWritable}${unsampled.length > 0 ? ` (not ruled out: no sighting of ${unsampled.join(', ')})` : ''} | ${load.toFixed(1)} | ${missedPrimary ? `NOT A FAILOVER (${missedPrimary}); left out; chaos said ${report.verdict}` : report.verdict}${report.verdict === 'kept' ? '' : `: ${report.reason}`} (${record.evidence}) |`,
    );
  }
  return out;
}

/** Median and max beside the anchor, the runs that lost a write or saw two writable; goals for each. */
function summarise(goal: Goal, label: string, runs: readonly RunRecord[], anchorMs: number, what: string): void {
  const all = runs.length;
  runs = runs.filter((r) => !r.missedPrimary);
  if (all > runs.length)
    console.log(`\n${label}: ${all - runs.length} run(s) left out: the fault did not hit the primary of that moment`);
  const figures = runs.map((r) => r.outageMs ?? Number.POSITIVE_INFINITY);
  const unsafe = runs.filter((r) => r.lost > 0 || r.twoWritable > 0).length;
  const unproven = runs.filter((r) => r.unsampled.length > 0).length;
  const broken = runs.filter((r) => r.verdict !== 'kept').length;
  console.log(
    `\n${label}: ${what} median ${quantile(figures, 0.5)} ms, max ${Math.max(...figures)} ms over ${runs.length} runs (anchor ${anchorMs} ms); ${unsafe} lost a write or saw two writable, ${unproven} could not rule two writable out (a node never sighted); ${broken} broken (${runs.map((r) => r.outageMs ?? 'never').join(', ')} ms; load average ${Math.min(...runs.map((r) => r.load)).toFixed(1)}–${Math.max(...runs.map((r) => r.load)).toFixed(1)})`,
  );
  goal(`${label}: median ${what}`, quantile(figures, 0.5), ' ms', '≤', anchorMs, 0);
  goal(`${label}: max ${what} over ${runs.length} runs`, Math.max(...figures), ' ms', '≤', anchorMs, 0);
  goal(`${label}: runs that lost a write or saw two writable`, unsafe, '', '≤', 0, 0);
  goal(`${label}: runs that could not rule two writable out`, unproven, '', '≤', 0, 0);
}

async function withStack(label: string, config: StackConfig, fn: (stack: TestStack) => Promise<void>): Promise<void> {
  const stack = new TestStack(label, config);
  try {
    await stack.up();
    await fn(stack);
  } finally {
    await stack.cleanup();
  }
}

// ---------------------------------------------------------------------------------------
// Write latency: semi-sync against asynchronous replication

interface LatencyRound {
  readonly p50ms: number;
  readonly p99ms: number;
  readonly writesPerS: number;
  /** Commits the primary had acknowledged by a replica (Rpl_semi_sync_master_yes_tx) over the round. */
  readonly semiSyncAcked: number;
  /** Commits that went on without an acknowledgement (Rpl_semi_sync_master_no_tx) over the round. */
  readonly semiSyncNotAcked: number;
  readonly writes: number;
}

async function primaryConnection(stack: TestStack): Promise<mysql.Connection> {
  const primary = (await stack.status()).db.primary;
  const socketPath = servicePaths({
    dir: path.join(stack.dir, '.tandem/hosts', primary, 'mariadb'),
    kind: 'mariadb',
  }).socket;
  // Root over the socket (unix_socket auth), like the sentinel: no password needed or read.
  const conn = await mysql.createConnection({ socketPath, user: 'root', connectTimeout: 5000 });
  await conn.query('CREATE DATABASE IF NOT EXISTS tandem_bench');
  await conn.query(
    'CREATE TABLE IF NOT EXISTS tandem_bench.writes (id BIGINT AUTO_INCREMENT PRIMARY KEY, payload VARCHAR(64) NOT NULL, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB',
  );
  return conn;
}

/** Commits the primary counted as acknowledged by a replica (yes) and as gone on without one (no). */
async function semiSyncCounts(conn: mysql.Connection): Promise<{ yes: number; no: number }> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_yes_tx', 'Rpl_semi_sync_master_no_tx')",
  );
  const value = (name: string) => Number(rows.find((r) => r.Variable_name === name)?.Value ?? Number.NaN);
  return { yes: value('Rpl_semi_sync_master_yes_tx'), no: value('Rpl_semi_sync_master_no_tx') };
}

/** `count` single-row autocommit INSERTs, one at a time on one connection, bounded by ROUND_DEADLINE_MS. */
async function writeRound(conn: mysql.Connection, count: number): Promise<LatencyRound> {
  const before = await semiSyncCounts(conn);
  const ms: number[] = [];
  const t0 = performance.now();
  const deadline = Date.now() + ROUND_DEADLINE_MS;
  for (let i = 0; i < count && Date.now() < deadline; i++) {
    const s = performance.now();
    await conn.execute('INSERT INTO tandem_bench.writes (payload) VALUES (?)', [`bench-${i}`]);
    ms.push(performance.now() - s);
  }
  const elapsedS = (performance.now() - t0) / 1000;
  const after = await semiSyncCounts(conn);
  return {
    p50ms: quantile(ms, 0.5),
    p99ms: quantile(ms, 0.99),
    writesPerS: ms.length / elapsedS,
    semiSyncAcked: after.yes - before.yes,
    semiSyncNotAcked: after.no - before.no,
    writes: ms.length,
  };
}

async function latencyPart(): Promise<void> {
  const semi = new TestStack('benchfo-semi', {
    name: 'benchfosemi',
    hosting: 'loopback',
    network: { subnet: '127.93.0.0/24' },
    database: { failover: true },
  });
  const async = new TestStack('benchfo-async', {
    name: 'benchfoasync',
    hosting: 'loopback',
    network: { subnet: '127.94.0.0/24' },
    database: { semiSync: false },
  });
  const conns: mysql.Connection[] = [];
  try {
    await semi.up();
    await waitHealthy(semi, 'up');
    await async.up();
    const targets = [
      { name: 'semi-sync (failover on: AFTER_SYNC, timeout ≈ 49 days)', conn: await primaryConnection(semi) },
      { name: 'asynchronous (semiSync: false, failover off)', conn: await primaryConnection(async) },
    ];
    conns.push(...targets.map((t) => t.conn));
    for (const t of targets) await writeRound(t.conn, Math.ceil(WRITES / 5)); // warm-up
    const rounds = targets.map(() => [] as LatencyRound[]);
    for (let r = 0; r < ROUNDS; r++)
      for (const [i, t] of targets.entries()) rounds[i]!.push(await writeRound(t.conn, WRITES));
    console.log(
      `\n### write latency: ${WRITES} single-row INSERTs (autocommit) one at a time over the primary's socket, ${ROUNDS} alternating rounds, medians\n`,
    );
    console.log('| replication | p50 ms | p99 ms | writes/s | commits semi-sync acknowledged (yes_tx) | not (no_tx) |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    const med = (i: number, k: keyof LatencyRound) =>
      quantile(
        rounds[i]!.map((x) => x[k]),
        0.5,
      );
    for (const [i, t] of targets.entries()) {
      const sum = (k: 'semiSyncAcked' | 'semiSyncNotAcked' | 'writes') => rounds[i]!.reduce((a, x) => a + x[k], 0);
      console.log(
        `| ${t.name} | ${med(i, 'p50ms').toFixed(3)} | ${med(i, 'p99ms').toFixed(3)} | ${med(i, 'writesPerS').toFixed(0)} | ${sum('semiSyncAcked')} of ${sum('writes')} | ${sum('semiSyncNotAcked')} |`,
      );
    }
    console.log(
      `\nthe price of losing nothing: p50 ×${(med(0, 'p50ms') / med(1, 'p50ms')).toFixed(2)}, p99 ×${(med(0, 'p99ms') / med(1, 'p99ms')).toFixed(2)}, writes/s ×${(med(0, 'writesPerS') / med(1, 'writesPerS')).toFixed(2)} (semi-sync / async)`,
    );
    for (const [i, t] of targets.entries())
      console.log(
        `  ${t.name}, per round: ${rounds[i]!.map((x) => `p50 ${x.p50ms.toFixed(3)} / p99 ${x.p99ms.toFixed(3)} ms, ${x.writesPerS.toFixed(0)}/s`).join('; ')}`,
      );
  } finally {
    for (const c of conns) await c.end().catch(() => {});
    await semi.cleanup();
    await async.cleanup();
  }
}

/** The failover part: the kinds selected in BENCH_FAILOVER, each on its stack. */
export async function failoverBench(goal: Goal): Promise<void> {
  OUT = process.env.BENCH_FAILOVER_OUT ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-failover-'));
  fs.mkdirSync(OUT, { recursive: true });
  const root = process.getuid?.() === 0;
  console.log(`\n## database failover (issue 8) — ${KINDS.join(', ')}; every run's figures: ${OUT}/runs.json`);
  if (KINDS.includes('kill') || KINDS.includes('switchover')) {
    const config: StackConfig = {
      name: 'benchfo',
      hosting: 'loopback',
      network: { subnet: '127.92.0.0/24' },
      database: { failover: true },
    };
    await withStack('benchfo', config, async (stack) => {
      if (KINDS.includes('kill'))
        summarise(
          goal,
          'kill-db-primary (loopback)',
          await repeat(stack, 'loopback', 'kill-db-primary', RUNS),
          1000,
          'write outage',
        );
      if (KINDS.includes('switchover')) {
        const runs = await repeat(stack, 'loopback', 'switchover-under-load', SWITCHOVERS);
        summarise(goal, 'switchover-under-load (loopback)', runs, 1000, 'write pause');
        goal(
          'switchover-under-load: failed requests, all runs',
          runs.reduce((a, r) => a + r.failed, 0),
          '',
          '≤',
          0,
          0,
        );
      }
    });
  }
  if (KINDS.includes('host') || KINDS.includes('partition')) {
    if (!root) console.log('\n### netns failovers — skipped: network namespaces need root');
    else
      await withStack(
        'benchfons',
        { name: 'benchfons', hosting: 'netns', network: { subnet: '10.92.0.0/24' }, database: { failover: true } },
        async (stack) => {
          if (KINDS.includes('host'))
            summarise(
              goal,
              'kill-host-db-primary (netns)',
              await repeat(stack, 'netns', 'kill-host-db-primary', RUNS),
              2500,
              'write outage',
            );
          if (KINDS.includes('partition'))
            summarise(
              goal,
              'partition-db-primary (netns)',
              await repeat(stack, 'netns', 'partition-db-primary', RUNS),
              2500,
              'write outage',
            );
        },
      );
  }
  if (KINDS.includes('latency')) await latencyPart();
}
