/**
 * `tandem chaos` on one real stack (loopback hosts, real engines), through the CLI:
 * each scenario injects its fault under a recorded load, heals, and judges its promise.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { ScenarioReport } from '../../src/chaos/run.ts';
import { TestStack } from '../support/stack.ts';

const stack = new TestStack('chaos', { name: 'chaos', hosting: 'loopback', network: { subnet: '127.67.0.0/24' } });

const scenario = (name: string) => stack.scenario(name);

/** A scenario's whole story, for assertion messages. */
const story = (r: ScenarioReport) =>
  `${r.scenario}: ${r.verdict} — ${r.reason}\n${JSON.stringify({ figures: r.figures, failures: r.check?.sampleFailures }, null, 2)}`;

async function assertNoActiveFaults(): Promise<void> {
  const r = await stack.run('chaos', 'active', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
}

describe('tandem chaos (loopback hosts, real engines)', { timeout: 300_000 }, () => {
  before(() => stack.up());
  after(() => stack.cleanup());

  it('kill-app: kill -9 of one app under load fails 0 requests (first attempts, within 2 s)', async () => {
    const { code, report } = await scenario('kill-app');
    process.stdout.write(`# kill-app: ${report.reason}; ${JSON.stringify(report.figures)}\n`);
    assert.equal(report.verdict, 'kept', story(report));
    assert.equal(code, 0);
    assert.equal(report.check!.failed, 0, story(report));
    assert.equal(report.check!.writes.retried, 0, story(report));
    assert.ok(report.check!.ops > 500, `only ${report.check!.ops} operations ran`);
    assert.ok(report.check!.writes.acknowledged > 100);
    assert.equal(report.faults.length, 1);
    assert.ok(fs.existsSync(report.historyFile!), 'the history is written');
    const lines = fs.readFileSync(report.historyFile!, 'utf8').trim().split('\n');
    assert.ok(lines.some((l) => l.includes('"type":"fault"')) && lines.some((l) => l.includes('"type":"final"')));
    // The HTML report beside it plots every request of this run, and marks the fault.
    assert.equal(report.htmlReport, report.historyFile!.replace(/\.jsonl$/, '.html'));
    const html = fs.readFileSync(report.htmlReport!, 'utf8');
    const data = JSON.parse(/<script type="application\/json" id="chaos-data">([^<]*)<\/script>/.exec(html)![1]!) as {
      ok: { t: number[] };
      failed: { t: number[] };
      marks: { kind: string; label: string }[];
    };
    assert.equal(data.ok.t.length + data.failed.t.length, report.check!.ops);
    assert.equal(data.failed.t.length, report.check!.failed);
    assert.ok(data.marks.some((m) => m.kind === 'fault' && m.label === `kill ${report.faults[0]!.target}`));
    assert.match(html, /uPlot/);
  });

  it('kill-web: kill -9 of one nginx (master and workers) under load fails 0 requests', async () => {
    const { code, report } = await scenario('kill-web');
    process.stdout.write(`# kill-web: ${report.reason}; ${JSON.stringify(report.figures)}\n`);
    assert.equal(report.verdict, 'kept', story(report));
    assert.equal(code, 0);
    assert.ok(report.faults[0]!.pids.length >= 2, `nginx master and worker: ${report.faults[0]!.pids}`);
  });

  it('pause-app: one app frozen for 3 s fails 0 requests and stalls none beyond 2 s', async () => {
    const { code, report } = await scenario('pause-app');
    process.stdout.write(`# pause-app: ${report.reason}; ${JSON.stringify(report.figures)}\n`);
    assert.equal(report.figures.latencyBoundMs, 2000);
    assert.equal(report.verdict, 'kept', story(report));
    assert.equal(code, 0);
    await assertNoActiveFaults();
  });

  it('kill-db-replica: 0 failed requests and reads keep working while the replica is dead', async () => {
    const { code, report } = await scenario('kill-db-replica');
    assert.equal(report.verdict, 'kept', story(report));
    assert.equal(code, 0);
    assert.ok(Number(report.figures.readsOkAfterFault) > 100, story(report));
    await assertNoActiveFaults();
  });

  it('kill-server: marked down within 1.5 s, failures before it bounded, none after', async () => {
    const { code, report } = await scenario('kill-server');
    process.stdout.write(`# kill-server: ${report.reason}; ${JSON.stringify(report.figures)}\n`);
    assert.equal(report.verdict, 'kept', story(report));
    assert.equal(code, 0);
    assert.equal(report.figures.failedAfterMarkedDown, 0);
    assert.ok(
      Number(report.figures.failedBeforeMarkedDown) <= Number(report.figures.failedBeforeMarkedDownBound),
      story(report),
    );
    // On loopback a dead server refuses the checks at once: marked down within one check
    // interval (300 ms) and one fast one (200 ms). Measured: 114 ms (RELIABILITY.md), 183 ms
    // with 400 ms checks, 441 ms on a loaded machine with the former 1 s checks.
    assert.ok(Number(report.figures.markedDownAfterMs) <= 500, story(report));
    await assertNoActiveFaults();
  });

  // This stack runs without database.failover (opt-in): writes wait for the primary to
  // come back, so only the safety is asserted here. The promise (writes resume within
  // 1 s) is asserted with failover on in failover.test.ts.
  it('kill-db-primary: no acknowledged write lost or doubled, never two writable databases', async () => {
    const { report } = await scenario('kill-db-primary');
    process.stdout.write(`# kill-db-primary: ${report.reason}; ${JSON.stringify(report.figures)}\n`);
    assert.equal(report.check!.finalStateError, undefined, story(report));
    assert.ok(report.check!.writes.acknowledged > 10, story(report));
    assert.deepEqual(report.check!.writes.lost, []);
    assert.deepEqual(report.check!.writes.duplicated, []);
    assert.deepEqual(report.check!.writableOverlaps, []);
    assert.deepEqual(report.check!.unsampledDbs, []);
    await assertNoActiveFaults();
  });

  it('network scenarios say they are not supported on loopback instead of pretending', async () => {
    const { code, report } = await scenario('partition-db-primary');
    assert.equal(report.verdict, 'unsupported');
    assert.equal(code, 1);
    assert.match(report.reason, /partition needs netns hosting/);
    const r = await stack.run('chaos', 'slow-link', 'server-1');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /slow-link needs netns hosting/);
  });

  it('hands-on: pause a target, see it active, heal it from another process', async () => {
    const paused = await stack.run('chaos', 'pause', 'server-1/app', '--json');
    assert.equal(paused.code, 0, paused.stderr);
    const fault = JSON.parse(paused.stdout) as { processes: { pid: number }[] };
    const pid = fault.processes[0]!.pid;
    assert.match(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'), /^\d+ \(.*\) T /, 'stopped');
    const active = await stack.run('chaos', 'active', '--json');
    assert.equal((JSON.parse(active.stdout) as unknown[]).length, 1);
    const healed = await stack.run('chaos', 'heal');
    assert.equal(healed.code, 0, healed.stderr);
    assert.doesNotMatch(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'), /^\d+ \(.*\) T /, 'running again');
    await assertNoActiveFaults();
  });
});
