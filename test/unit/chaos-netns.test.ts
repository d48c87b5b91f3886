/**
 * The netns half of chaos, without a namespace: the partition ruleset and tc argv as
 * data, the netns variants of scenarios, targets and groups, and the figures the
 * failover and slow-link verdicts are built from.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { failureWindow, latencies, vipHolderAt, vipMovedAt } from '../../src/chaos/checker.ts';
import { linkRate } from '../../src/chaos/model.ts';
import type { Op } from '../../src/chaos/history.ts';
import { isRate, nftDeleteCommand, qdiscDeleteCommand, renderPartition, tbfCommand } from '../../src/chaos/network.ts';
import { scenarioFor, scenarioNamed } from '../../src/chaos/scenarios.ts';
import { hostsOfGroup, targetNames } from '../../src/chaos/targets.ts';
import { workerCommand } from '../../src/hosts/worker.ts';
import { netnsPlanOf, planOf, removeTempDirs } from './fixtures/plans.ts';

const T = 1_000_000;
const op = (start: number, outcome: Op['outcome'], ms = 5): Op => ({
  kind: 'page',
  start: T + start,
  end: T + start + ms,
  outcome,
  ...(outcome === 'ok' ? { status: 200 } : {}),
});

describe('chaos on netns: network faults as data', () => {
  after(removeTempDirs);

  it('renders a partition table that drops every packet both ways, before tandem’s own chains', () => {
    const text = renderPartition('server-2', ['10.77.0.13', '10.77.0.11'], 'partition server-2 | everyone else');
    assert.equal(
      text,
      [
        '# tandem chaos: partition server-2 | everyone else, on server-2',
        'table inet tandem_chaos',
        'delete table inet tandem_chaos',
        '',
        'table inet tandem_chaos {',
        '    chain input {',
        '        type filter hook input priority -10; policy accept;',
        '        ip saddr { 10.77.0.11, 10.77.0.13 } drop comment "partition: nothing from the other side"',
        '    }',
        '',
        '    chain output {',
        '        type filter hook output priority -10; policy accept;',
        '        ip daddr { 10.77.0.11, 10.77.0.13 } drop comment "partition: nothing to the other side"',
        '    }',
        '}',
        '',
      ].join('\n'),
    );
    assert.doesNotMatch(text, /ct state/, 'no conntrack exception: established connections are cut too');
    assert.deepEqual(nftDeleteCommand(), ['/usr/sbin/nft', 'delete', 'table', 'inet', 'tandem_chaos']);
    assert.throws(() => renderPartition('server-2', [], 'x'), /needs addresses/);
  });

  it('cuts only TCP to or from the given ports when asked (an etcd member cut off from its peers)', () => {
    const text = renderPartition('server-1', ['10.77.0.13', '10.77.0.21'], 'etcd', [2380]);
    const rules = text.split('\n').filter((l) => l.includes(' drop '));
    assert.deepEqual(
      rules.map((l) => l.trim().replace(/ comment .*/, '')),
      [
        'ip saddr { 10.77.0.13, 10.77.0.21 } tcp dport 2380 drop',
        'ip saddr { 10.77.0.13, 10.77.0.21 } tcp sport 2380 drop',
        'ip daddr { 10.77.0.13, 10.77.0.21 } tcp dport 2380 drop',
        'ip daddr { 10.77.0.13, 10.77.0.21 } tcp sport 2380 drop',
      ],
    );
    assert.match(renderPartition('server-1', ['10.77.0.13'], 'etcd', [2380, 2379]), /tcp dport \{ 2379, 2380 \} drop/);
  });

  it('slows a link with tbf (no netem in this kernel), and accepts only tc rates', () => {
    assert.deepEqual(tbfCommand('eth0', linkRate('1mbit')), [
      '/usr/sbin/tc',
      'qdisc',
      'replace',
      'dev',
      'eth0',
      'root',
      'tbf',
      'rate',
      '1mbit',
      'burst',
      '16kb',
      'latency',
      '500ms',
    ]);
    assert.deepEqual(qdiscDeleteCommand('tnabcdeh2'), ['/usr/sbin/tc', 'qdisc', 'del', 'dev', 'tnabcdeh2', 'root']);
    for (const r of ['1mbit', '500kbit', '2.5mbit', '100kbps']) assert.ok(isRate(r), r);
    for (const r of ['100ms', 'fast', '1 mbit', '']) assert.ok(!isRate(r), r);
  });

  it('runs the load worker in the client namespace with the TypeScript loader by absolute URL', () => {
    const argv = workerCommand({ namespace: 'tandem-x-client' }, '/w/traffic-worker.ts', ['{}']);
    assert.deepEqual(argv.slice(0, 5), ['/usr/sbin/ip', 'netns', 'exec', 'tandem-x-client', process.execPath]);
    assert.equal(argv[5], '--import');
    assert.match(argv[6]!, /^file:\/\/.*tsx/);
    assert.deepEqual(argv.slice(7), ['/w/traffic-worker.ts', '{}']);
  });
});

describe('chaos on netns: targets and scenarios', () => {
  after(removeTempDirs);

  it('offers lb:active and lb:standby only where there is a VIP; groups name hosts', () => {
    const netns = netnsPlanOf({});
    assert.ok(targetNames(netns).includes('lb:active'));
    assert.ok(!targetNames(planOf({})).includes('lb:active'));
    assert.deepEqual(
      hostsOfGroup(netns, 'db:primary').map((h) => h.name),
      [netns.db.primary],
    );
    assert.deepEqual(
      hostsOfGroup(netns, 'server-1/app, lb-2').map((h) => h.name),
      ['lb-2', 'server-1'],
    );
  });

  it('kill-lb kills the active LB host on netns and HAProxy on loopback', () => {
    const killLb = scenarioNamed('kill-lb')!;
    const netns = scenarioFor(killLb, netnsPlanOf({}));
    assert.deepEqual(netns.faults(netnsPlanOf({})), [{ kind: 'kill-host', target: 'lb:active' }]);
    assert.equal(netns.knownGap?.(netnsPlanOf({})), undefined, 'two LBs and a VIP: no known gap');
    assert.match(netns.promise, /at most 0.5 s/);
    const loopback = scenarioFor(killLb, planOf({}));
    assert.deepEqual(loopback.faults(planOf({})), [{ kind: 'kill', target: 'lb-1/haproxy' }]);
    assert.match(loopback.knownGap?.(planOf({})) ?? '', /one load balancer/);
  });
});

describe('chaos on netns: failover figures', () => {
  it('failure window: first failure at or after the fault → first success after the last failure', () => {
    const ops = [op(0, 'ok'), op(990, 'error', 20), op(1100, 'timeout', 50), op(1200, 'ok', 10), op(1300, 'ok')];
    assert.deepEqual(failureWindow(ops, T + 1000), {
      firstFailureMs: 0,
      lastFailureStartMs: 100,
      recoveredMs: 210,
      durationMs: 210,
    });
    assert.equal(failureWindow([op(0, 'ok')], T), undefined);
    assert.equal(failureWindow([op(10, 'error')], T)?.recoveredMs, null);
  });

  it('finds who held the VIP at the fault and when another LB took it', () => {
    const samples = [
      { at: T, holder: 'lb-1' },
      { at: T + 100, holder: 'lb-1' },
      { at: T + 200, holder: null },
      { at: T + 300, holder: 'lb-2' },
    ];
    assert.equal(vipHolderAt(samples, T + 150), 'lb-1');
    assert.deepEqual(vipMovedAt(samples, 'lb-1', T + 150), { at: T + 300, holder: 'lb-2' });
    assert.equal(vipMovedAt(samples.slice(0, 3), 'lb-1', T + 150), undefined);
  });

  it('latency of successes in a window', () => {
    const ops = [op(0, 'ok', 2), op(10, 'ok', 50), op(20, 'ok', 100), op(30, 'error', 900), op(40, 'ok', 3)];
    assert.deepEqual(latencies(ops, T + 5, T + 35), { count: 2, p50: 100, p99: 100, max: 100 });
    assert.deepEqual(latencies(ops, T + 100, T + 200), { count: 0, p50: null, p99: null, max: null });
  });
});
