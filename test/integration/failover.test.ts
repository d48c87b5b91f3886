/**
 * Database failover through the CLI, on a loopback stack with `database.failover: true`:
 * etcd's three members and a sentinel beside each database come up with `tandem up`;
 * the primary's death under the recorded load is survived within the promise; the old
 * primary rejoins as a replica; a planned switchover under load fails nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ScenarioReport } from '../../src/chaos/run.ts';
import { TestStack } from '../support/stack.ts';

const NAME = 'failover';
const stack = new TestStack(NAME, {
  name: NAME,
  hosting: 'loopback',
  network: { subnet: '127.91.0.0/24' },
  database: { failover: true },
});

const scenario = (name: string) => stack.scenario(name);

const story = (r: ScenarioReport) =>
  `${r.scenario}: ${r.verdict} — ${r.reason}\n${JSON.stringify({ figures: r.figures, heals: r.heals, failures: r.check?.sampleFailures, writableOverlaps: r.check?.writableOverlaps }, null, 2)}`;

describe('database failover (loopback, database.failover on)', { timeout: 420_000 }, () => {
  before(async () => {
    await stack.up();
  });
  after(async () => {
    await stack.cleanup();
  });

  it('status shows the leader, its term, the eligible replica, live semi-sync and three healthy etcd members', async () => {
    const s = await stack.status();
    const f = s.db.failover;
    assert.ok(f, 'failover in status');
    assert.equal(f.leader, s.db.primary);
    assert.ok(Number(f.term) >= 1);
    assert.ok(f.eligible && f.eligible !== f.leader, `eligible: ${f.eligible}`);
    assert.equal(s.db.instances.find((i) => i.host === f.leader)?.semiSyncLive, true);
    assert.equal(s.etcd?.members.filter((m) => m.healthy).length, 3);
    assert.ok(s.etcd?.leader);
  });

  it('failover without --force is refused, and with it while a primary leads too', async () => {
    const bare = await stack.run('failover');
    assert.equal(bare.code, 1);
    assert.match(bare.stderr, /needs --force/);
    const forced = await stack.run('failover', '--force');
    assert.equal(forced.code, 1);
    assert.match(forced.stderr, /is the primary and holds the leader key/);
  });

  it('kill-db-primary: writes resume within 1 s; nothing lost; the old primary rejoins as a replica', async () => {
    const before = (await stack.status()).db.primary;
    const { code, report } = await scenario('kill-db-primary');
    process.stdout.write(`# kill-db-primary: ${report.reason}; ${JSON.stringify(report.figures)}\n`);
    assert.equal(report.verdict, 'kept', story(report));
    assert.equal(code, 0);
    assert.ok(Number(report.figures.writeOutageMs) <= 1000, story(report));
    assert.ok(report.figures.promotedTo && report.figures.promotedTo !== before, story(report));
    assert.deepEqual(report.check!.divergence, []);
    assert.deepEqual(report.check!.rywViolations, []);
    const after = await stack.status();
    assert.equal(after.db.primary, report.figures.promotedTo);
    const old = after.db.instances.find((i) => i.host === before);
    assert.equal(old?.role, 'replica');
    assert.equal(old?.readOnly, true);
    assert.ok(old?.replication?.ioRunning && old.replication.sqlRunning, JSON.stringify(old));
  });

  it('switchover under load: no request fails; writes pause at most 1 s; never two writable', async () => {
    const { code, report } = await scenario('switchover-under-load');
    process.stdout.write(`# switchover-under-load: ${report.reason}; ${JSON.stringify(report.figures)}\n`);
    assert.equal(report.verdict, 'kept', story(report));
    assert.equal(code, 0);
    assert.equal(report.check!.failed, 0, story(report));
    assert.ok(Number(report.figures.writePauseMs) <= 1000, story(report));
    assert.deepEqual(report.check!.divergence, []);
  });
});
