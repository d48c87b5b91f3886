/**
 * Chaos for database failover, without a database: the live roles picked from probes,
 * the `db:` and `etcd:` targets, the failover verdicts on passing and failing histories
 * (an unsafe promotion among them), the final-state divergence check and the scenarios.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { registerSwitchover } from '../../src/chaos/actions.ts';
import { check } from '../../src/chaos/checker.ts';
import { promotionAfter, writeOutage } from '../../src/chaos/db-figures.ts';
import { pickRoles } from '../../src/chaos/db-roles.ts';
import {
  flapVerdict,
  noStalePromotionVerdict,
  switchoverVerdict,
  writesResumeVerdict,
} from '../../src/chaos/db-verdicts.ts';
import { finalDivergence, notRejoined } from '../../src/chaos/divergence.ts';
import type { DbSample, FaultEvent, History, NodeState, Op } from '../../src/chaos/history.ts';
import { writeBody } from '../../src/chaos/history.ts';
import { runScenario, timelineOf } from '../../src/chaos/run.ts';
import { roundsOf, scenarioNamed } from '../../src/chaos/scenarios.ts';
import { resolveTarget, targetNames } from '../../src/chaos/targets.ts';
import type { PromiseInput } from '../../src/chaos/verdicts.ts';
import type { Plan } from '../../src/config/types.ts';
import { planOf, removeTempDirs } from './fixtures/plans.ts';

const T0 = 1_000_000;
const RUN = 'cfail';
const HOSTS = ['server-2', 'server-1'];

const op = (kind: Op['kind'], at: number, outcome: Op['outcome'] = 'ok', id?: string): Op => ({
  kind,
  ...(id ? { id } : {}),
  start: T0 + at,
  end: T0 + at + 5,
  outcome,
  ...(outcome === 'ok' ? { status: kind === 'write' ? 201 : 200 } : { status: 503 }),
});

/** One write and one page every 50 ms over [fromMs, toMs); `fails(at)` says which fail. */
function load(fromMs: number, toMs: number, fails: (at: number, kind: Op['kind']) => boolean = () => false): Op[] {
  const out: Op[] = [];
  for (let at = fromMs; at < toMs; at += 50) {
    out.push(op('write', at, fails(at, 'write') ? 'fail' : 'ok', `w${at}`));
    out.push(op('page', at + 10, fails(at + 10, 'page') ? 'fail' : 'ok'));
  }
  return out;
}

/**
 * Database sightings every 100 ms over [0, untilMs), each query taking 30 ms:
 * `writable(at)` names the writable host(s) at that moment; `down(at)` the ones not
 * answering; the rest are read-only.
 */
function samples(untilMs: number, writable: (at: number) => string[], down: (at: number) => string[] = () => []) {
  const out: DbSample[] = [];
  for (let at = 0; at < untilMs; at += 100) {
    for (const host of HOSTS) {
      const when = { at: T0 + at, end: T0 + at + 30 };
      if (down(at).includes(host)) out.push({ ...when, host, up: false });
      else out.push({ ...when, host, up: true, readOnly: !writable(at).includes(host) });
    }
  }
  return out;
}

const fault = (atMs: number, host: string, kind = 'kill-host', target = 'db:primary'): FaultEvent => ({
  id: `${kind}:${atMs}`,
  kind,
  target,
  at: T0 + atMs,
  pids: [],
  hosts: [host],
});

/** Every node holding every acknowledged write, the same GTID set and checksums; `primary` first. */
function converged(ops: Op[], primary = 'server-1'): NodeState[] {
  const posts = ops
    .filter((o) => o.kind === 'write' && o.outcome === 'ok')
    .map((o) => ({ uid: o.id!, body: writeBody(RUN, o.id!) }));
  const node = (host: string, first: boolean): NodeState => ({
    host,
    posts,
    gtid: '0-1-40,0-2-120',
    checksums: { posts: '1234', users: '99' },
    readOnly: !first,
    ...(first ? {} : { replicating: true }),
  });
  return [node(primary, true), ...HOSTS.filter((h) => h !== primary).map((h) => node(h, false))];
}

function history(
  ops: Op[],
  dbSamples: DbSample[],
  faults: FaultEvent[],
  endMs: number,
  nodes = converged(ops),
): History {
  return {
    scenario: 'test',
    runId: RUN,
    startedAt: T0,
    endedAt: T0 + endMs,
    ops,
    faults,
    heals: [],
    dbSamples,
    lbSamples: [],
    dbHosts: HOSTS,
    final: { readAt: T0 + endMs + 1000, nodes },
  };
}

const input = (h: History, extra: Partial<PromiseInput> = {}): PromiseInput => ({
  check: check(h),
  history: h,
  faultAt: h.faults[0]?.at ?? h.startedAt,
  plan: {} as Plan,
  ...extra,
});

/** GIVEN server-2 (the primary) dies at 2 s; writes fail until `backMs`, when server-1 is promoted. */
function failover(backMs: number, endMs = 6000): History {
  const ops = load(0, endMs, (at, kind) => kind === 'write' && at >= 2000 && at < backMs);
  const dbSamples = samples(
    endMs,
    (at) => (at < 2000 ? ['server-2'] : at >= backMs - 100 ? ['server-1'] : []),
    (at) => (at >= 2000 ? ['server-2'] : []),
  );
  return history(ops, dbSamples, [fault(2000, 'server-2')], endMs);
}

describe('chaos failover: who is the primary now', () => {
  after(removeTempDirs);

  it('the writable node is the primary, whatever the config says; the config only when none is writable', () => {
    const plan = planOf({});
    const [configPrimary, replica] = [plan.db.primary, plan.db.replicas[0]!];
    const moved = pickRoles(plan, [
      { host: configPrimary, up: false },
      { host: replica, up: true, readOnly: false },
    ]);
    assert.deepEqual(moved, { primary: replica, replicas: [configPrimary], source: 'probe' });
    const none = pickRoles(plan, [
      { host: configPrimary, up: false },
      { host: replica, up: true, readOnly: true },
    ]);
    assert.deepEqual(none, { primary: configPrimary, replicas: [replica], source: 'config' });
    const both = pickRoles(plan, [
      { host: configPrimary, up: true, readOnly: false },
      { host: replica, up: true, readOnly: false },
    ]);
    assert.equal(both.primary, configPrimary);
  });

  it('db:primary-host names the whole host; etcd:member exists only where etcd does', () => {
    const plan = planOf({ database: { failover: false } });
    assert.equal(resolveTarget(plan, 'db:primary-host').host, plan.db.primary);
    assert.equal(resolveTarget(plan, 'db:replica-host').host, plan.db.replicas[0]);
    assert.deepEqual(
      resolveTarget(plan, 'db:replica').services.map((s) => s.id),
      [`${plan.db.replicas[0]}/mariadb`],
    );
    assert.throws(() => resolveTarget(plan, 'db:replica-2-host'), /no fault target 'db:replica-2-host'/);
    assert.ok(!targetNames(plan).includes('etcd:member'));
    assert.throws(() => resolveTarget(plan, 'etcd:member'), /no fault target 'etcd:member'/);
    const etcd = { ...plan.services[0]!, id: 'server-1/etcd', host: 'server-1', kind: 'etcd' };
    const withEtcd = { ...plan, services: [...plan.services, etcd] } as unknown as Plan;
    assert.ok(targetNames(withEtcd).includes('etcd:member'));
    assert.deepEqual(
      resolveTarget(withEtcd, 'etcd:member').services.map((s) => s.id),
      ['server-1/etcd'],
    );
  });
});

describe('chaos failover: figures', () => {
  it('write outage: from the fault to the first acknowledgement after the last failed write', () => {
    const ops = load(0, 6000, (at, kind) => kind === 'write' && at >= 2000 && at < 2600);
    assert.deepEqual(writeOutage(ops, T0 + 2000, T0 + 6000), {
      outageMs: 605,
      failedWrites: 12,
      firstFailureMs: 0,
      longestGapMs: 50,
    });
    assert.equal(writeOutage(ops, T0 + 2000, T0 + 2500).outageMs, null, 'not back before the window ends');
    assert.equal(writeOutage(ops, T0 + 2000, T0 + 2603).outageMs, null, 'acknowledged only after the window ended');
  });

  it('write outage: a stall that fails nothing counts too (the longest gap between acknowledgements)', () => {
    const ops = load(0, 6000).map((o) =>
      o.kind === 'write' && o.start >= T0 + 2000 && o.start < T0 + 2800 ? { ...o, end: T0 + 2800 } : o,
    );
    const w = writeOutage(ops, T0 + 1990, T0 + 6000);
    assert.equal(w.failedWrites, 0);
    assert.equal(w.outageMs, 810, 'the first write after the fault was acknowledged only at 2.8 s');
  });

  it('promotion: the first other node writable after the fault', () => {
    const h = failover(2600);
    assert.deepEqual(promotionAfter(h.dbSamples, T0 + 2000, 'server-2'), { host: 'server-1', at: T0 + 2500 });
    assert.equal(promotionAfter(h.dbSamples, T0 + 2000, 'server-2', T0 + 2400), undefined);
  });

  it('divergence: GTID sets (in any order), table checksums, two writable nodes; none when the same', () => {
    const nodes = converged([]);
    assert.deepEqual(finalDivergence(nodes), []);
    assert.deepEqual(finalDivergence([nodes[0]!, { ...nodes[1]!, gtid: '0-2-120, 0-1-40' }]), []);
    const gtid = finalDivergence([nodes[0]!, { ...nodes[1]!, gtid: '0-1-40,0-2-121' }]);
    assert.deepEqual(gtid, ['GTID sets differ: server-1 0-1-40,0-2-120, server-2 0-1-40,0-2-121']);
    const sums = finalDivergence([nodes[0]!, { ...nodes[1]!, checksums: { posts: '1235' } }]);
    assert.deepEqual(sums, [
      'table posts differs: server-1 1234, server-2 1235',
      'table users differs: server-1 99, server-2 missing',
    ]);
    assert.match(
      finalDivergence([nodes[0]!, { ...nodes[1]!, readOnly: false }])[0] ?? '',
      /server-1 and server-2 both writable/,
    );
    assert.deepEqual(notRejoined(nodes), []);
    assert.deepEqual(notRejoined([nodes[0]!, { ...nodes[1]!, replicating: false }]), ['server-2 (not replicating)']);
  });
});

describe('chaos failover: writes resume', () => {
  it('kept when writes come back within the bound, with the outage, the promoted node and the failed writes', () => {
    const v = writesResumeVerdict(input(failover(2600)), 1000, { rejoin: true });
    assert.equal(v.kept, true, v.reason);
    assert.equal(v.figures.writeOutageMs, 605);
    assert.equal(v.figures.promotedTo, 'server-1');
    assert.equal(v.figures.promotedAfterMs, 500);
    assert.equal(v.figures.failedWrites, 12);
  });

  it('broken when writes come back later than the bound, never, or no write ran', () => {
    const late = writesResumeVerdict(input(failover(3400)), 1000);
    assert.equal(late.kept, false);
    assert.match(late.reason, /writes resumed 1405 ms after the fault \(promise: 1000 ms\)/);
    const never = writesResumeVerdict(input(failover(9000, 6000)), 2500);
    assert.match(never.reason, /writes did not resume within the run/);
    const h = failover(2600);
    const quiet = writesResumeVerdict(input({ ...h, ops: h.ops.filter((o) => o.start < T0 + 2000) }), 1000);
    assert.match(quiet.reason, /no write ran after the fault/);
  });

  it('partition: judged while cut off, and broken when the old primary does not rejoin', () => {
    const h = failover(2600, 12_000);
    assert.equal(writesResumeVerdict(input(h, { healAt: T0 + 10_000 }), 2500, { rejoin: true }).kept, true);
    // Back only once the partition was healed: not while the primary was cut off.
    const healed = writesResumeVerdict(input(failover(10_000, 12_000), { healAt: T0 + 10_000 }), 2500);
    assert.match(healed.reason, /writes did not resume while the fault lasted \(8000 ms after the fault; 160 failed\)/);
    const nodes = h.final!.nodes.map((n, i) => (i === 1 ? { ...n, replicating: false } : n));
    const stray = writesResumeVerdict(input({ ...h, final: { ...h.final!, nodes } }, { healAt: T0 + 10_000 }), 2500, {
      rejoin: true,
    });
    assert.match(stray.reason, /not back as a replica after the heal: server-2 \(not replicating\)/);
  });
});

describe('chaos failover: the checker fails an unsafe promotion', () => {
  it('a replica promoted before applying its relay log: the write acknowledged by the old primary is missing on the new one', () => {
    // GIVEN writes acknowledged by server-2 up to 2 s; server-1 promoted at 2.5 s without
    // MASTER_GTID_WAIT: it never applied w1950, which server-2 still holds after the heal.
    const h = failover(2600);
    const nodes = h.final!.nodes.map((n) =>
      n.host === 'server-1' ? { ...n, posts: n.posts.filter((p) => p.uid !== 'w1950'), gtid: '0-1-40,0-2-119' } : n,
    );
    const unsafe = { ...h, final: { ...h.final!, nodes } };
    const r = check(unsafe);
    assert.deepEqual(r.writes.lostOn, [{ host: 'server-1', ids: ['w1950'] }]);
    const v = writesResumeVerdict(input(unsafe), 1000);
    assert.equal(v.kept, false);
    assert.match(v.reason, /1 acknowledged write\(s\) lost/);
    assert.match(
      v.reason,
      /the databases diverged \(GTID sets differ: server-1 0-1-40,0-2-119, server-2 0-1-40,0-2-120\)/,
    );
  });

  it('a primary not fenced: two nodes writable at overlapping samples', () => {
    const h = failover(2600);
    // The cut-off server-2 stays writable until 3.2 s while server-1 is writable from 2.5 s.
    const dbSamples = samples(
      6000,
      (at) => [...(at < 3200 ? ['server-2'] : []), ...(at >= 2500 ? ['server-1'] : [])],
      (at) => (at >= 3200 ? ['server-2'] : []),
    );
    const v = writesResumeVerdict(input({ ...h, dbSamples }), 1000);
    assert.equal(v.kept, false);
    assert.match(v.reason, /two databases were writable at once/);
    // Proven from server-1's first writable answer (2530) to server-2's last writable query (3100).
    assert.deepEqual(check({ ...h, dbSamples }).writableOverlaps, [
      { fromMs: 2530, toMs: 3100, hosts: ['server-1', 'server-2'] },
    ]);
  });

  it('diverged GTID sets or checksums at the end break every verdict, even with every write present', () => {
    const h = failover(2600);
    const nodes = h.final!.nodes.map((n) =>
      n.host === 'server-2' ? { ...n, gtid: '0-1-40,0-2-121', checksums: { ...n.checksums, users: '7' } } : n,
    );
    const diverged = { ...h, final: { ...h.final!, nodes } };
    assert.deepEqual(check(diverged).writes.lost, []);
    const v = writesResumeVerdict(input(diverged), 1000);
    assert.equal(v.kept, false);
    assert.match(v.reason, /GTID sets differ/);
    assert.match(v.reason, /table users differs: server-1 99, server-2 7/);
  });
});

describe('chaos failover: a stale replica is never promoted', () => {
  /** The replica (server-1) frozen at 2 s, back at 5 s as the primary (server-2) dies; nothing promoted. */
  function stale(promoteAtMs?: number): History {
    const ops = load(
      0,
      9000,
      (at, kind) => kind === 'write' && at >= 5000 && (promoteAtMs === undefined || at < promoteAtMs),
    );
    const dbSamples = samples(
      9000,
      (at) => (at < 5000 ? ['server-2'] : promoteAtMs !== undefined && at >= promoteAtMs ? ['server-1'] : []),
      (at) => [...(at >= 5000 ? ['server-2'] : []), ...(at >= 2000 && at < 5000 ? ['server-1'] : [])],
    );
    return {
      ...history(
        ops,
        dbSamples,
        [fault(2000, 'server-1', 'pause', 'db:replica'), fault(5000, 'server-2')],
        9000,
        converged(ops, 'server-2'),
      ),
      sentinelNotes: [{ host: 'server-1', notPromoted: WHY }],
    };
  }
  const WHY = 'no replica is known to hold every acknowledged write of term 1; only server-2 may take over';

  it('kept: writes stop when the primary dies, reads keep working, and the report says why', () => {
    const v = noStalePromotionVerdict(input(stale()));
    assert.equal(v.kept, true, v.reason);
    assert.equal(v.figures.promotedTo, null);
    assert.equal(v.figures.writesOnlyOnPrimary, 60);
    assert.equal(v.figures.writesStoppedAfterMs, 0);
    assert.match(
      v.reason,
      /server-1 had missed 60 acknowledged write\(s\) while it was out, so promoting it would have lost them/,
    );
    assert.ok(v.reason.includes(`its sentinel: “${WHY}”`), v.reason);
    assert.equal(v.figures.notPromotedBecause, WHY);
  });

  it('broken when the stale replica’s sentinel does not say why it was not promoted', () => {
    const h = stale();
    const silent = { ...h, sentinelNotes: [{ host: 'server-2', notPromoted: 'the local database is down' }] };
    assert.match(noStalePromotionVerdict(input(silent)).reason, /server-1’s sentinel did not say why/);
  });

  it('broken when the stale replica is promoted, or when reads stop working', () => {
    const promoted = noStalePromotionVerdict(input(stale(5600)));
    assert.equal(promoted.kept, false);
    assert.match(
      promoted.reason,
      /server-1 was promoted 600 ms after server-2 died, though it had missed 60 acknowledged write\(s\)/,
    );
    const h = stale();
    const noReads = {
      ...h,
      ops: h.ops.map((o) => (o.kind === 'page' && o.start >= T0 + 4000 ? { ...o, outcome: 'fail' as const } : o)),
    };
    assert.match(noStalePromotionVerdict(input(noReads)).reason, /no read succeeded after server-2 died/);
    const someFail = {
      ...h,
      ops: h.ops.map((o) =>
        o.kind === 'page' && o.start >= T0 + 3000 && o.start < T0 + 4000 ? { ...o, outcome: 'fail' as const } : o,
      ),
    };
    assert.match(noStalePromotionVerdict(input(someFail)).reason, /20 of 140 reads failed \(bound 7\)/);
  });
});

describe('chaos failover: switchover and flap', () => {
  /** A switchover at 3 s: writes wait `pauseMs` (acknowledged late, none failed); server-1 writable after. */
  function switchover(pauseMs: number, failWrite = false): History {
    const ops = load(0, 8000, (at, kind) => failWrite && kind === 'write' && at === 3200).map((o) =>
      o.kind === 'write' && o.start >= T0 + 3000 && o.start < T0 + 3000 + pauseMs
        ? { ...o, end: T0 + 3000 + pauseMs }
        : o,
    );
    const dbSamples = samples(8000, (at) => (at < 3000 ? ['server-2'] : at >= 3000 + pauseMs ? ['server-1'] : []));
    return history(ops, dbSamples, [fault(3000, 'server-2', 'switchover')], 8000);
  }

  it('switchover: kept with 0 failed and a short pause; broken by a failed write, a long pause, or no new primary', () => {
    const v = switchoverVerdict(input(switchover(400)), 1000);
    assert.equal(v.kept, true, v.reason);
    assert.equal(v.figures.writePauseMs, 400);
    assert.equal(v.figures.promotedTo, 'server-1');
    assert.match(switchoverVerdict(input(switchover(400, true)), 1000).reason, /1 of 320 requests failed/);
    assert.match(
      switchoverVerdict(input(switchover(1500)), 1000).reason,
      /writes paused for 1500 ms \(promise: 1000 ms\)/,
    );
    const h = switchover(400);
    const stuck = { ...h, dbSamples: samples(8000, () => ['server-2']) };
    assert.match(switchoverVerdict(input(stuck), 1000).reason, /no other database became writable/);
  });

  /** Five failovers, 4 s apart, each back after `outageMs` (the i-th in `slow` after 2 s). */
  function flap(slow?: number, wrongTarget?: number): History {
    const at = [2000, 6000, 10_000, 14_000, 18_000];
    const back = at.map((t, i) => t + (i === slow ? 2000 : 400));
    const primaryAt = (t: number) => {
      const i = at.filter((x) => x <= t).length; // rounds begun
      if (i === 0) return ['server-2'];
      return t >= back[i - 1]! ? [i % 2 === 1 ? 'server-1' : 'server-2'] : [];
    };
    const ops = load(0, 22_000, (t, kind) => kind === 'write' && at.some((f, i) => t >= f && t < back[i]!));
    const faults = at.map((t, i) => fault(t, (i % 2 === 0) !== (i === wrongTarget) ? 'server-2' : 'server-1'));
    return history(ops, samples(22_000, primaryAt), faults, 22_000);
  }

  it('flap: kept when each of five failovers hits the primary of the moment and writes come back within the bound', () => {
    const v = flapVerdict(input(flap()), 1000, 5);
    assert.equal(v.kept, true, v.reason);
    assert.equal(v.figures.failovers, 5);
    assert.equal(v.figures.writeOutagesMs, '405,405,405,405,405');
    assert.equal(v.figures.primaries, 'server-2→server-1→server-2→server-1→server-2→server-1');
  });

  it('flap: broken by one slow failover, a fault on the wrong node, or fewer rounds', () => {
    assert.match(flapVerdict(input(flap(2)), 1000, 5).reason, /failover 3: writes resumed 2005 ms after the fault/);
    assert.match(
      flapVerdict(input(flap(undefined, 3)), 1000, 5).reason,
      /failover 4 hit server-2, but server-1 was the primary then/,
    );
    const h = flap();
    assert.match(
      flapVerdict(input({ ...h, faults: h.faults.slice(0, 4) }), 1000, 5).reason,
      /only 4 of 5 failovers ran/,
    );
  });

  it('flap: a write cut by the next fault counts in that failover, not in the one before', () => {
    const h = flap();
    // Sent 100 ms before the third fault (10 s), failed 300 ms after it.
    const cut: Op = { kind: 'write', id: 'cut', start: T0 + 9900, end: T0 + 10_300, outcome: 'fail', status: 503 };
    const v = flapVerdict(input({ ...h, ops: [...h.ops, cut] }), 1000, 5);
    assert.equal(v.kept, true, v.reason);
    assert.equal(v.figures.writeOutagesMs, '405,405,405,405,405');
    // One that ended before the fault is the earlier failover’s: writes came back for good only after it.
    const late: Op = { ...cut, id: 'late', end: T0 + 9950 };
    assert.match(
      flapVerdict(input({ ...h, ops: [...h.ops, late] }), 1000, 5).reason,
      /failover 2: writes resumed 3955 ms after the fault \(promise: 1000 ms\)/,
    );
  });
});

describe('chaos failover: scenarios', () => {
  after(removeTempDirs);
  const withFailover = (plan: Plan) => ({ ...plan, db: { ...plan.db, failover: true } }) as unknown as Plan;

  it('promises the issue’s bounds: 1 s for a killed engine, 2.5 s for a dead or cut-off host, 1 s switchover pause', () => {
    const promise = (name: string) => scenarioNamed(name)!.promise;
    assert.match(promise('kill-db-primary'), /writes resume within 1 s/);
    assert.match(promise('kill-host-db-primary'), /writes resume within 2.5 s/);
    assert.match(promise('partition-db-primary'), /within 2.5 s on the other side; never two writable databases/);
    assert.match(promise('flap'), /each failover: writes resume within 1 s; no divergence/);
    assert.match(promise('kill-db-replica-then-primary'), /no automatic promotion of the stale replica/);
    assert.match(promise('kill-etcd-member'), /writes unaffected/);
    assert.match(promise('switchover-under-load'), /0 failed requests; writes pause for at most 1 s/);
  });

  it('flap: five kills of the primary of the moment within 60 s, each healed before the next', () => {
    const flap = scenarioNamed('flap')!;
    const rounds = roundsOf(flap);
    assert.equal(rounds.length, 5);
    assert.ok(flap.durationMs <= 60_000, `${flap.durationMs} ms`);
    for (const r of rounds) assert.deepEqual(r.faults(planOf({})), [{ kind: 'kill-host', target: 'db:primary' }]);
    const steps = timelineOf(rounds);
    assert.deepEqual(
      steps.map((s) => `${s.heal ? 'heal' : 'fault'} ${s.i}`),
      rounds.flatMap((_, i) => [`fault ${i}`, `heal ${i}`]),
    );
    assert.ok(steps.every((s) => s.at < flap.durationMs));
  });

  it('kill-db-replica-then-primary: the replica is out before the primary dies and returns only after', () => {
    const rounds = roundsOf(scenarioNamed('kill-db-replica-then-primary')!);
    const steps = timelineOf(rounds).map(
      (s) => `${s.heal ? 'heal' : 'fault'} ${rounds[s.i]!.faults(planOf({}))[0]!.target}`,
    );
    assert.deepEqual(steps, ['fault db:replica', 'fault db:primary', 'heal db:replica']);
    assert.equal(rounds[0]!.faults(planOf({}))[0]!.kind, 'pause');
  });

  it('a scenario that needs failover, etcd or a switchover is reported unsupported, with the reason, never kept', async () => {
    const plan = planOf({ database: { failover: false } });
    const run = (name: string, p: Plan, opts = {}) => runScenario(p, scenarioNamed(name)!, opts);
    for (const name of ['kill-host-db-primary', 'flap', 'kill-db-replica-then-primary', 'switchover-under-load']) {
      const r = await run(name, plan);
      assert.equal(r.verdict, 'unsupported', name);
      assert.match(r.reason, new RegExp(`${name} needs database failover`));
    }
    const etcd = await run('kill-etcd-member', withFailover(plan));
    assert.match(etcd.reason, /needs etcd, which this stack does not run/);
    registerSwitchover(undefined);
    const noSwitchover = await run('switchover-under-load', withFailover(plan));
    assert.equal(noSwitchover.verdict, 'unsupported');
    assert.match(noSwitchover.reason, /needs `tandem switchover`, which is not connected/);
    // Not dropped for lack of failover: these run and break, as an expected failure.
    assert.match(scenarioNamed('kill-db-primary')!.knownGap!(plan) ?? '', /no database failover/);
    assert.equal(scenarioNamed('kill-db-primary')!.knownGap!(withFailover(plan)), undefined);
  });
});
