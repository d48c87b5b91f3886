/** The chaos checker on hand-made histories: it must catch each kind of violation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { check, markedDownAt, recoveryTime, writableOverlaps } from '../../src/chaos/checker.ts';
import type { DbSample, History, Op } from '../../src/chaos/history.ts';
import { idOfBody, writeBody } from '../../src/chaos/history.ts';
import { SCENARIOS } from '../../src/chaos/scenarios.ts';
import {
  failoverVerdict,
  KILL_LB_WINDOW_MS,
  MARK_DOWN_WITHIN_MS,
  markDownVerdict,
  type PromiseInput,
  safetyBreach,
  zeroFailed,
} from '../../src/chaos/verdicts.ts';

const T0 = 1_000_000;
const RUN = 'ctest';

const ok = (kind: Op['kind'], at: number, id?: string): Op => ({
  kind,
  ...(id ? { id } : {}),
  start: T0 + at,
  end: T0 + at + 5,
  outcome: 'ok',
  status: kind === 'write' ? 201 : 200,
  server: 'server-1',
});
const failed = (kind: Op['kind'], at: number, status = 502, id?: string): Op => ({
  kind,
  ...(id ? { id } : {}),
  start: T0 + at,
  end: T0 + at + 5,
  outcome: 'fail',
  status,
});
const post = (id: string) => ({ uid: id, body: writeBody(RUN, id) });

/** Both databases sampled every 200 ms, each query taking 20 ms: server-2 the writable primary, server-1 read-only. */
function healthyDbSamples(untilMs: number): DbSample[] {
  const out: DbSample[] = [];
  for (let t = 0; t <= untilMs; t += 200) {
    out.push({ at: T0 + t, end: T0 + t + 20, host: 'server-2', up: true, readOnly: false });
    out.push({ at: T0 + t + 10, end: T0 + t + 30, host: 'server-1', up: true, readOnly: true });
  }
  return out;
}

type Posts = { uid: string; body: string }[];
const primaryHolding = (posts: Posts) => ({ host: 'server-2', posts });
const replicaHolding = (posts: Posts = [post('w1'), post('w2'), post('w3')]) => ({ host: 'server-1', posts });
/** The final state with the primary holding `posts` and the replica all three writes. */
const finalWith = (posts: Posts) => ({ readAt: T0 + 5000, nodes: [primaryHolding(posts), replicaHolding()] });

/** GIVEN a clean run: 3 writes, each read back, pages and API reads, one fault at 2 s. */
function cleanHistory(): History {
  const ops: Op[] = [];
  for (let i = 1; i <= 3; i++) {
    ops.push(ok('write', i * 1000, `w${i}`), ok('read-own', i * 1000 + 10, `w${i}`));
    ops.push(ok('page', i * 1000 + 20), ok('api', i * 1000 + 30));
  }
  return {
    scenario: 'test',
    runId: RUN,
    startedAt: T0,
    endedAt: T0 + 4000,
    ops,
    faults: [{ id: 'f1', kind: 'kill', target: 'server-1/app', at: T0 + 2000, pids: [42] }],
    heals: [],
    dbSamples: healthyDbSamples(4000),
    lbSamples: [],
    dbHosts: ['server-2', 'server-1'],
    final: { readAt: T0 + 5000, nodes: [primaryHolding([post('w1'), post('w2'), post('w3')]), replicaHolding()] },
  };
}

describe('chaos checker', () => {
  it('passes a clean history: nothing failed, lost, duplicated, stale or doubly writable', () => {
    const r = check(cleanHistory());
    assert.equal(r.ops, 12);
    assert.equal(r.failed, 0);
    assert.deepEqual(r.byKind.write, { total: 3, ok: 3, failed: 0 });
    assert.deepEqual(r.writes.lost, []);
    assert.deepEqual(r.writes.duplicated, []);
    assert.deepEqual(r.rywViolations, []);
    assert.deepEqual(r.writableOverlaps, []);
    assert.equal(r.outage, null);
    assert.equal(r.recoveryMs, 0);
    assert.equal(safetyBreach(r), undefined);
  });

  it('catches a lost write: acknowledged, yet missing from the final state', () => {
    const h = cleanHistory();
    const r = check({ ...h, final: finalWith([post('w1'), post('w3')]) });
    assert.deepEqual(r.writes.lost, ['w2']);
    assert.deepEqual(r.writes.lostOn, [{ host: 'server-2', ids: ['w2'] }]);
    assert.match(safetyBreach(r) ?? '', /1 acknowledged write\(s\) lost/);
  });

  it('does not call an unacknowledged write lost, and counts it applied when it is there', () => {
    const h = cleanHistory();
    const ops = [
      ...h.ops,
      failed('write', 2500, 502, 'w4'),
      { ...failed('write', 2600, 0, 'w5'), outcome: 'timeout' as const },
    ];
    const r = check({ ...h, ops, final: finalWith([post('w1'), post('w2'), post('w3'), post('w4')]) });
    assert.deepEqual(r.writes.lost, []);
    assert.equal(r.writes.indeterminate, 2);
    assert.equal(r.writes.indeterminateApplied, 1);
  });

  it('catches a duplicated write: the same body marker twice under different uids', () => {
    const h = cleanHistory();
    const r = check({
      ...h,
      final: finalWith([post('w1'), post('w2'), post('w3'), { uid: 'other', body: writeBody(RUN, 'w2') }]),
    });
    assert.deepEqual(r.writes.duplicated, ['w2']);
    assert.match(safetyBreach(r) ?? '', /duplicated/);
  });

  it('catches a read-your-writes violation: an acknowledged write read back as 404', () => {
    const h = cleanHistory();
    const ops = h.ops.map((o) => (o.kind === 'read-own' && o.id === 'w3' ? failed('read-own', 3010, 404, 'w3') : o));
    const r = check({ ...h, ops });
    assert.deepEqual(r.rywViolations, ['w3']);
    assert.equal(r.byKind['read-own'].failed, 1);
    assert.match(safetyBreach(r) ?? '', /read-your-writes/);
  });

  it('a read-back that failed with a 502 is a failed request, not a violation', () => {
    const h = cleanHistory();
    const ops = h.ops.map((o) => (o.kind === 'read-own' && o.id === 'w3' ? failed('read-own', 3010, 502, 'w3') : o));
    assert.deepEqual(check({ ...h, ops }).rywViolations, []);
  });

  it('catches two writable primaries, with the window and the hosts', () => {
    const h = cleanHistory();
    // server-1 loses read_only from 1.4 s to 2.2 s (sightings 1410–1430, …, 2010–2030; read-only again at 2210).
    const dbSamples = h.dbSamples.map((s) =>
      s.host === 'server-1' && s.at >= T0 + 1400 && s.at < T0 + 2200 ? { ...s, readOnly: false } : s,
    );
    const r = check({ ...h, dbSamples });
    assert.equal(r.writableOverlaps.length, 1);
    // Surely writable from its first sighting's end to its last one's start; server-2 all along.
    assert.deepEqual(r.writableOverlaps[0], { fromMs: 1430, toMs: 2010, hosts: ['server-1', 'server-2'] });
    assert.match(safetyBreach(r) ?? '', /two databases were writable/);
  });

  it('a database that is down or read-only is not writable', () => {
    const samples: DbSample[] = [
      { at: T0, end: T0 + 10, host: 'a', up: true, readOnly: false },
      { at: T0 + 20, end: T0 + 30, host: 'a', up: true, readOnly: false },
      { at: T0 + 1, end: T0 + 40, host: 'b', up: false },
      { at: T0 + 2, end: T0 + 3, host: 'c', up: true, readOnly: true },
      { at: T0 + 4, end: T0 + 5, host: 'c', up: true, readOnly: true },
    ];
    assert.deepEqual(writableOverlaps(samples, T0), []);
  });

  it('measures the outage window (first to last failure) and the recovery time', () => {
    const h = cleanHistory();
    const ops = [
      ...h.ops,
      failed('page', 2010),
      failed('api', 2100),
      failed('write', 2300, 502, 'w9'),
      ok('page', 2400),
    ];
    const r = check({ ...h, ops });
    assert.deepEqual(r.outage, { fromMs: 2010, toMs: 2300, durationMs: 290 });
    // Fault at 2000. Per kind, the first success after its last failure: page 2405,
    // api 3035, write 3005 — every kind works again at 3035.
    assert.equal(r.recoveryMs, 1035);
    assert.equal(r.writeRecoveryMs, 1005);
    assert.equal(r.byKind.page.failed, 1);
    assert.equal(r.failed, 3);
  });

  it('reports no recovery when requests were still failing at the end', () => {
    const ops = [ok('write', 1000, 'a'), failed('write', 2500, 502, 'b'), failed('write', 3000, 502, 'c')];
    assert.equal(recoveryTime(ops, T0 + 2000), null);
    // Reads that kept working do not hide writes that never came back.
    const r = check({ ...cleanHistory(), ops: [...ops, ok('page', 3500)] });
    assert.equal(r.recoveryMs, null);
  });

  it('finds when the load balancer marked a server down', () => {
    const samples = [
      { at: T0 + 1900, lb: 'lb-1', server: 'server-1', status: 'UP' },
      { at: T0 + 2100, lb: 'lb-1', server: 'server-1', status: 'UP 1/2' },
      { at: T0 + 2300, lb: 'lb-1', server: 'server-2', status: 'DOWN' },
      { at: T0 + 2400, lb: 'lb-1', server: 'server-1', status: 'DOWN' },
    ];
    assert.equal(markedDownAt(samples, 'server-1', T0 + 2000), T0 + 2400);
    assert.equal(markedDownAt(samples, 'server-3', T0), undefined);
  });

  it('a final state that could not be read breaks the safety promise (lost writes unknown)', () => {
    const h = cleanHistory();
    const r = check({ ...h, final: { readAt: T0, nodes: [{ host: 'server-2', posts: [], error: 'refused' }] } });
    assert.equal(r.finalStateError, 'server-2: refused');
    assert.match(safetyBreach(r) ?? '', /final state unreadable/);
    // A database node the run knows of but did not read is as bad.
    const one = check({ ...h, final: { readAt: T0, nodes: [primaryHolding([post('w1'), post('w2'), post('w3')])] } });
    assert.equal(one.finalStateError, 'server-1 not read');
  });

  it('catches a write acknowledged by the primary but missing on the replica', () => {
    const h = cleanHistory();
    const final = { readAt: T0, nodes: [primaryHolding(replicaHolding().posts), replicaHolding([post('w1')])] };
    const r = check({ ...h, final });
    assert.deepEqual(r.writes.lost, ['w2', 'w3']);
    assert.deepEqual(r.writes.lostOn, [{ host: 'server-1', ids: ['w2', 'w3'] }]);
    assert.match(safetyBreach(r) ?? '', /2 acknowledged write\(s\) lost/);
  });

  it('a database that never answered a sighting during the run breaks the safety promise (two writable not ruled out)', () => {
    const h = cleanHistory();
    const r = check({ ...h, dbSamples: h.dbSamples.filter((s) => s.host !== 'server-1') });
    assert.deepEqual(r.unsampledDbs, ['server-1']);
    assert.match(safetyBreach(r) ?? '', /server-1 never answered a read_only sighting/);
  });

  it('counts a write that succeeded only on its retry as failed (and retried), still acknowledged', () => {
    const h = cleanHistory();
    const ops = h.ops.map((o) =>
      o.kind === 'write' && o.id === 'w2' ? { ...o, attempts: 2, firstFailure: '502' } : o,
    );
    const r = check({ ...h, ops });
    assert.equal(r.failed, 1);
    assert.equal(r.byKind.write.failed, 1);
    assert.equal(r.writes.retried, 1);
    assert.equal(r.writes.acknowledged, 3);
    assert.deepEqual(r.writes.lost, []);
  });

  it('counts an answer later than the latency bound as failed (slow), a slow write as acknowledged', () => {
    const h = cleanHistory();
    const ops = h.ops.map((o) =>
      (o.kind === 'page' && o.start === T0 + 2020) || (o.kind === 'write' && o.id === 'w3')
        ? { ...o, outcome: 'slow' as const, end: o.start + 3000 }
        : o,
    );
    const r = check({ ...h, ops });
    assert.equal(r.slow, 2);
    assert.equal(r.failed, 2);
    assert.equal(r.writes.acknowledged, 3);
    // The slow write is still checked for loss: drop it from the primary.
    const lost = check({ ...h, ops, final: finalWith([post('w1'), post('w2')]) });
    assert.deepEqual(lost.writes.lost, ['w3']);
  });

  it('body markers round-trip to their write id', () => {
    assert.equal(idOfBody(RUN, writeBody(RUN, 'x-1')), 'x-1');
    assert.equal(idOfBody(RUN, 'hello'), undefined);
  });
});

/** Two web servers behind the LB; the primary on server-2. */
const plan = {
  db: { primary: 'server-2' },
  lb: { backends: [{ host: 'server-1' }, { host: 'server-2' }] },
  hosts: [
    { name: 'server-1', roles: ['web'] },
    { name: 'server-2', roles: ['web'] },
  ],
} as unknown as PromiseInput['plan'];

/** GIVEN a history, judged with the fault at 2 s. */
const input = (h: History, extra: Partial<PromiseInput> = {}): PromiseInput => ({
  check: check(h),
  history: h,
  faultAt: T0 + 2000,
  plan,
  ...extra,
});

/** Steady load: one page every 50 ms over [fromMs, toMs), failed where `fails` says so. */
function pages(fromMs: number, toMs: number, fails: (at: number) => boolean = () => false): Op[] {
  const out: Op[] = [];
  for (let at = fromMs; at < toMs; at += 50) out.push(fails(at) ? failed('page', at) : ok('page', at));
  return out;
}

describe('chaos verdicts on failing histories', () => {
  it('zero failed: broken by one failure, by one retried write, and when nothing ran after the fault', () => {
    const h = cleanHistory();
    assert.equal(zeroFailed(input(h)).kept, true);
    assert.equal(zeroFailed(input({ ...h, ops: [...h.ops, failed('api', 2500)] })).kept, false);
    const retried = h.ops.map((o) => (o.kind === 'write' && o.id === 'w3' ? { ...o, attempts: 2 } : o));
    const v = zeroFailed(input({ ...h, ops: retried }));
    assert.equal(v.kept, false);
    assert.match(v.reason, /1 of 12 requests failed \(1 retried\)/);
    const before = h.ops.filter((o) => o.start < T0 + 2000);
    assert.match(zeroFailed(input({ ...h, ops: before })).reason, /no request ran after the fault/);
  });

  it('failover (kill-lb): kept when failures end within the window and the VIP moved', () => {
    const vipSamples = [
      { at: T0 + 1900, holder: 'lb-1' },
      { at: T0 + 2300, holder: 'lb-2' },
    ];
    const ops = pages(0, 4000, (at) => at >= 2000 && at < 2300);
    const v = failoverVerdict(input({ ...cleanHistory(), ops, vipSamples }), KILL_LB_WINDOW_MS);
    assert.equal(v.kept, true, v.reason);
    assert.equal(v.figures.vipMovedAfterMs, 300);
    assert.equal(KILL_LB_WINDOW_MS, 500);
  });

  it('failover (kill-lb): broken by a failure after the window, a window too long, or a VIP that never moved', () => {
    const vipSamples = [
      { at: T0 + 1900, holder: 'lb-1' },
      { at: T0 + 2300, holder: 'lb-2' },
    ];
    const h = cleanHistory();
    const late = failoverVerdict(
      input({ ...h, ops: pages(0, 4000, (at) => at === 2000 || at === 2700), vipSamples }),
      KILL_LB_WINDOW_MS,
    );
    assert.equal(late.kept, false);
    assert.equal(late.figures.failedAfterWindow, 1);
    // Requests started from 2.0 to 2.45 s fail, and the next success starts only at
    // 2.62 s: no failure started late, but the window (first failure to the first
    // success after the last) is over 600 ms.
    const long = pages(0, 4000)
      .filter((o) => o.start < T0 + 2450 || o.start >= T0 + 2620)
      .map((o) =>
        o.start >= T0 + 2000 && o.start < T0 + 2450 ? { ...failed('page', o.start - T0), end: o.start + 200 } : o,
      );
    const slow = failoverVerdict(input({ ...h, ops: long, vipSamples }), KILL_LB_WINDOW_MS);
    assert.equal(slow.kept, false, slow.reason);
    assert.match(slow.reason, /requests failed for 6\d\d ms \(promise: 500 ms\)/);
    const stuck = failoverVerdict(
      input({ ...h, ops: pages(0, 4000), vipSamples: [{ at: T0 + 1900, holder: 'lb-1' }] }),
      KILL_LB_WINDOW_MS,
    );
    assert.match(stuck.reason, /never moved/);
    const standby = { ...h, ops: pages(0, 4000), vipSamples, faults: [{ ...h.faults[0]!, hosts: ['lb-2'] }] };
    assert.match(failoverVerdict(input(standby), KILL_LB_WINDOW_MS).reason, /hit lb-2, but lb-1 held the VIP/);
    const quiet = failoverVerdict(input({ ...h, ops: pages(0, 2000), vipSamples }), KILL_LB_WINDOW_MS);
    assert.match(quiet.reason, /no request succeeded/);
  });

  it('kill-server: broken when marked down later than the promise, or more than the dead server’s share fails', () => {
    const h = cleanHistory();
    const down = (atMs: number) => [{ at: T0 + atMs, lb: 'lb-1', server: 'server-1', status: 'DOWN' }];
    const kept = markDownVerdict(
      input({ ...h, ops: pages(0, 4000, (at) => at === 2100), lbSamples: down(2400) }),
      'server-1',
    );
    assert.equal(kept.kept, true, kept.reason);
    const late = markDownVerdict(input({ ...h, ops: pages(0, 5000), lbSamples: down(2000 + 1600) }), 'server-1');
    assert.equal(late.kept, false);
    assert.match(
      late.reason,
      new RegExp(`marked down 1600 ms after the fault \\(promise: ${MARK_DOWN_WITHIN_MS} ms\\)`),
    );
    // Every request between the fault and the mark-down failed: both servers' share, not one.
    const all = markDownVerdict(
      input({ ...h, ops: pages(0, 4000, (at) => at >= 2000 && at < 2400), lbSamples: down(2400) }),
      'server-1',
    );
    assert.equal(all.kept, false);
    assert.match(all.reason, /more than the dead server's share/);
    const never = markDownVerdict(input({ ...h, ops: pages(0, 4000), lbSamples: [] }), 'server-1');
    assert.match(never.reason, /never marked server-1 down/);
  });

  it('partition: broken when writes do not resume within 2.5 s while cut off, or no write ran; kept when they do', () => {
    const partitionVerdict = (i: PromiseInput) => SCENARIOS.find((s) => s.name === 'partition-db-primary')!.judge(i);
    const h = cleanHistory();
    const writes = (fails: (at: number) => boolean) => {
      const out: Op[] = [];
      for (let at = 0; at < 40_000; at += 500)
        out.push(fails(at) ? failed('write', at, 503, `p${at}`) : ok('write', at, `p${at}`));
      return out;
    };
    const cut = { healAt: T0 + 34_000 };
    // Every write the client saw acknowledged is on both nodes: only the promise can break.
    const holding = (ops: Op[]) => {
      const posts = ops.filter((o) => o.kind === 'write' && o.outcome === 'ok').map((o) => post(o.id!));
      return { readAt: T0, nodes: [primaryHolding(posts), replicaHolding(posts)] };
    };
    const endlessOps = writes((at) => at >= 2000 && at < 34_000);
    const endless = { ...h, endedAt: T0 + 40_000, ops: endlessOps, final: holding(endlessOps) };
    const broken = partitionVerdict(input(endless, cut));
    assert.equal(broken.kept, false);
    assert.match(broken.reason, /did not resume/);
    const resumedOps = writes((at) => at >= 2000 && at < 4000);
    const resumed = { ...h, endedAt: T0 + 40_000, ops: resumedOps, final: holding(resumedOps) };
    assert.equal(partitionVerdict(input(resumed, cut)).kept, true);
    const lateOps = writes((at) => at >= 2000 && at < 5000);
    const late = partitionVerdict(input({ ...h, endedAt: T0 + 40_000, ops: lateOps, final: holding(lateOps) }, cut));
    assert.match(late.reason, /writes resumed 3005 ms after the fault \(promise: 2500 ms\)/);
    const none = { ...h, endedAt: T0 + 40_000, ops: pages(0, 40_000) };
    assert.match(partitionVerdict(input(none, cut)).reason, /no write ran/);
  });
});

describe('chaos scenarios', () => {
  it('has every scenario the issue names, each with a promise', () => {
    assert.deepEqual(
      SCENARIOS.map((s) => s.name),
      [
        'kill-app',
        'kill-web',
        'kill-server',
        'kill-lb',
        'pause-app',
        'kill-db-replica',
        'kill-db-primary',
        'kill-host-db-primary',
        'partition-db-primary',
        'flap',
        'kill-db-replica-then-primary',
        'kill-etcd-member',
        'partition-etcd-member',
        'switchover-under-load',
        'slow-link',
      ],
    );
    for (const s of SCENARIOS) {
      assert.ok(s.promise.length > 0);
      assert.ok(s.faultAtMs < s.durationMs);
    }
  });

  it('kill-server is judged on the failures after the LB marked the server down', () => {
    const scenario = SCENARIOS.find((s) => s.name === 'kill-server')!;
    const h = cleanHistory();
    const ops = [...h.ops, failed('page', 2050), failed('write', 2100, 502, 'w8')];
    const lbSamples = [{ at: T0 + 2200, lb: 'lb-1', server: 'server-1', status: 'DOWN' }];
    const history = { ...h, ops, lbSamples };
    const v = scenario.judge({ check: check(history), history, faultAt: T0 + 2000, plan });
    assert.equal(v.kept, true, v.reason);
    assert.equal(v.figures.failedBeforeMarkedDown, 2);
    assert.equal(v.figures.markedDownAfterMs, 200);
    const later = { ...history, ops: [...ops, failed('api', 2500)] };
    assert.equal(scenario.judge({ check: check(later), history: later, faultAt: T0 + 2000, plan }).kept, false);
  });
});

describe('chaos checker: two writable databases only when the sightings prove it', () => {
  /** One `read_only` query on `host` from `at` to `end` (ms after T0): writable, read-only or unanswered. */
  const seen = (host: string, at: number, end: number, state: 'writable' | 'read-only' | 'down'): DbSample =>
    state === 'down'
      ? { at: T0 + at, end: T0 + end, host, up: false }
      : { at: T0 + at, end: T0 + end, host, up: true, readOnly: state === 'read-only' };

  it('flags two runs of writable sightings that must share an instant, with the window both surely held', () => {
    // GIVEN a writable from ≤20 to ≥400 ms, b writable from ≤120 to ≥300 ms.
    const samples = [
      seen('a', 0, 20, 'writable'),
      seen('a', 200, 220, 'writable'),
      seen('a', 400, 420, 'writable'),
      seen('b', 100, 120, 'writable'),
      seen('b', 300, 320, 'writable'),
    ];
    assert.deepEqual(writableOverlaps(samples, T0), [{ fromMs: 120, toMs: 300, hosts: ['a', 'b'] }]);
  });

  it('flags a lone writable sighting that falls inside the other node’s surely writable interval', () => {
    const samples = [
      seen('a', 0, 20, 'writable'),
      seen('a', 200, 220, 'writable'),
      seen('b', 0, 10, 'read-only'),
      seen('b', 100, 110, 'writable'),
      seen('b', 200, 210, 'read-only'),
    ];
    assert.deepEqual(writableOverlaps(samples, T0), [{ fromMs: 100, toMs: 110, hosts: ['a', 'b'] }]);
  });

  it('does not flag a hand-over whose query intervals overlap: the old primary’s last query was slow', () => {
    // GIVEN a's last writable query ran from 400 to 1000 ms (its answer may be from 400 ms),
    // and b was first seen writable by a query from 600 to 620 ms. By start time a was
    // writable at 400 and b at 600 with no read-only sighting of a between: the old
    // "a sample holds until the next" reading called that two writable at once.
    const samples = [
      seen('a', 0, 20, 'writable'),
      seen('a', 200, 220, 'writable'),
      seen('a', 400, 1000, 'writable'),
      seen('a', 1000, 1020, 'read-only'),
      seen('b', 0, 20, 'read-only'),
      seen('b', 200, 220, 'read-only'),
      seen('b', 400, 420, 'read-only'),
      seen('b', 600, 620, 'writable'),
      seen('b', 800, 820, 'writable'),
      seen('b', 1000, 1020, 'writable'),
    ];
    assert.deepEqual(writableOverlaps(samples, T0), []);
    // Proven only when a is seen writable by a query that started after b's writable answer came back.
    const late = [...samples.filter((s) => s.host !== 'a' || s.at < T0 + 400), seen('a', 400, 420, 'writable')];
    late.push(seen('a', 700, 720, 'writable'), seen('a', 1000, 1020, 'read-only'));
    assert.deepEqual(writableOverlaps(late, T0), [{ fromMs: 620, toMs: 700, hosts: ['a', 'b'] }]);
  });

  it('does not flag two lone writable sightings, however much their queries overlap', () => {
    const samples = [
      seen('a', 0, 500, 'writable'),
      seen('a', 500, 520, 'read-only'),
      seen('b', 0, 20, 'read-only'),
      seen('b', 100, 150, 'writable'),
      seen('b', 200, 220, 'read-only'),
    ];
    assert.deepEqual(writableOverlaps(samples, T0), []);
  });

  it('a read-only or unanswered sighting between two writable ones breaks the run (it may have flipped)', () => {
    const b = [seen('b', 100, 120, 'writable'), seen('b', 300, 320, 'writable')];
    const a = (between: 'read-only' | 'down' | 'writable') => [
      seen('a', 0, 20, 'writable'),
      seen('a', 200, 220, between),
      seen('a', 400, 420, 'writable'),
    ];
    assert.deepEqual(writableOverlaps([...a('read-only'), ...b], T0), []);
    assert.deepEqual(writableOverlaps([...a('down'), ...b], T0), []);
    assert.deepEqual(writableOverlaps([...a('writable'), ...b], T0), [{ fromMs: 120, toMs: 300, hosts: ['a', 'b'] }]);
  });

  it('three nodes in one episode are one window with every host', () => {
    const samples = [
      seen('a', 0, 20, 'writable'),
      seen('a', 400, 420, 'writable'),
      seen('b', 100, 120, 'writable'),
      seen('b', 300, 320, 'writable'),
      seen('c', 200, 220, 'writable'),
      seen('c', 500, 520, 'writable'),
    ];
    assert.deepEqual(writableOverlaps(samples, T0), [{ fromMs: 120, toMs: 400, hosts: ['a', 'b', 'c'] }]);
  });

  it('an empty or unanswered history rules nothing out: the safety promise is broken, not vacuously kept', () => {
    const h = cleanHistory();
    const none = check({ ...h, dbSamples: [] });
    assert.deepEqual(none.writableOverlaps, []);
    assert.deepEqual(none.unsampledDbs, ['server-2', 'server-1']);
    assert.match(safetyBreach(none) ?? '', /server-2, server-1 never answered a read_only sighting/);
    const unanswered = check({
      ...h,
      dbSamples: h.dbSamples.map((s) => ({ at: s.at, end: s.end, host: s.host, up: false })),
    });
    assert.deepEqual(unanswered.unsampledDbs, ['server-2', 'server-1']);
    const nobody = check({ ...h, dbHosts: [], dbSamples: [] });
    assert.match(safetyBreach(nobody) ?? '', /no database host recorded/);
  });
});
