import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import example from '../../examples/three-tier.config.ts';
import { keepalivedEngine } from '../../src/engines/keepalived.ts';
import { haproxyServiceFor } from '../../src/render/haproxy.ts';
import { keepalivedServiceFor, renderKeepalived } from '../../src/render/keepalived.ts';
import {
  DEFAULT_STACK,
  installed,
  linesOf,
  NETNS_THREE_TIER_STACK,
  netnsPlanOf,
  planOf,
  removeTempDirs,
  run,
  servicesOf,
  writeStack,
} from './fixtures/plans.ts';

after(removeTempDirs);

describe('renderKeepalived', () => {
  it('holds the VIP with VRRPv3 adverts every 100 ms, unicast to the other LB', () => {
    const plan = netnsPlanOf(DEFAULT_STACK);
    const lines = linesOf(renderKeepalived(plan, 'lb-1'));

    for (const expected of [
      '# namespace tandem-foobar-lb-1',
      '    router_id tandem-foobar-lb-1',
      '    vrrp_version 3',
      '    script_user root',
      '    state BACKUP',
      '    nopreempt',
      '    interface eth0',
      `    virtual_router_id ${plan.lb.vrrp!.routerId}`,
      '    priority 150',
      '    advert_int 0.1',
      '    unicast_src_ip 10.77.0.11',
      '        10.77.0.12',
      '        10.77.0.10/24 dev eth0',
      '    vrrp_garp_master_repeat 3',
      '    vrrp_garp_master_refresh 1',
    ]) {
      assert.ok(lines.includes(expected), `missing line: ${expected}`);
    }
    assert.ok(!lines.some((l) => l.includes('vrrp_strict')));
    const lb2 = linesOf(renderKeepalived(plan, 'lb-2'));
    assert.ok(lb2.includes('    priority 100'));
    assert.ok(lb2.includes('    unicast_src_ip 10.77.0.12'));
    assert.ok(lb2.includes('        10.77.0.11'));
    assert.ok(lb2.includes('# namespace tandem-foobar-lb-2'));
    // keepalived enters the namespace from its command line: with `net_namespace` in the
    // file, `keepalived -t` would pass a broken file.
    assert.ok(!lines.some((l) => l.startsWith('net_namespace')));
  });

  it("tracks this host's HAProxy by its full command line, never the other LB's", () => {
    const plan = netnsPlanOf(DEFAULT_STACK);
    const own = servicePaths(haproxyServiceFor(plan, 'lb-1')).config;
    const lines = linesOf(renderKeepalived(plan, 'lb-1'));

    assert.ok(lines.includes(`    process /usr/sbin/haproxy -W -db -dMglobal -f ${own}`));
    assert.ok(lines.includes('    param_match partial'));
    assert.ok(lines.includes('    weight 0'));
    assert.ok(lines.includes('    track_process {'));
    assert.ok(!renderKeepalived(plan, 'lb-1').includes(servicePaths(haproxyServiceFor(plan, 'lb-2')).config));
  });

  it('a single LB holds the VIP alone: no unicast peers (the example three-tier stack)', () => {
    const plan = netnsPlanOf({ ...example, stateDir: undefined, hosting: 'netns' });
    const text = renderKeepalived(plan, 'lb-1');
    assert.doesNotMatch(text, /unicast_peer|unicast_src_ip/);
    assert.match(text, /virtual_ipaddress \{\n\s+10\.78\.0\.10\/24 dev eth0/);
    writeStack(plan);
    const r = run(keepalivedEngine.checkCommand(servicePaths(keepalivedServiceFor(plan, 'lb-1'))));
    assert.equal(r.status, 0, r.stderr);
  });

  it('preempts when the config asks for it (no nopreempt; both still start as BACKUP)', () => {
    const lines = linesOf(renderKeepalived(netnsPlanOf({ lb: { preempt: true, advertIntervalMs: 250 } }), 'lb-1'));

    assert.ok(!lines.includes('    nopreempt'));
    assert.ok(lines.includes('    state BACKUP'));
    assert.ok(lines.includes('    advert_int 0.25'));
  });

  it('refuses loopback hosting and hosts that are not load balancers', () => {
    assert.throws(() => renderKeepalived(planOf(DEFAULT_STACK), 'lb-1'), /lb-1 runs no keepalived service/);
    const plan = netnsPlanOf(DEFAULT_STACK);
    assert.throws(() => renderKeepalived(plan, 'server-1'), /server-1 runs no keepalived service/);
    assert.equal(keepalivedServiceFor(plan, 'lb-2').id, 'lb-2/keepalived');
  });
});

describe(
  'keepalived -t on the rendered config',
  {
    skip: !installed(keepalivedEngine.binary) && 'keepalived is not installed',
  },
  () => {
    for (const [name, config] of [
      ['default', DEFAULT_STACK],
      ['three-tier', NETNS_THREE_TIER_STACK],
    ] as const) {
      it(`accepts every LB of the ${name} netns stack without warnings`, () => {
        const plan = netnsPlanOf(config);
        writeStack(plan);
        const services = servicesOf(plan, 'keepalived');
        assert.equal(services.length, 2);
        for (const service of services) {
          const r = run(keepalivedEngine.checkCommand(servicePaths(service)));
          assert.equal(r.status, 0, r.stderr);
          assert.doesNotMatch(r.stdout + r.stderr, /WARNING|Unknown keyword|invalid/i);
        }
      });
    }

    it('fails on an unknown keyword, so the check can fail', () => {
      const plan = netnsPlanOf(DEFAULT_STACK);
      writeStack(plan);
      const paths = servicePaths(keepalivedServiceFor(plan, 'lb-1'));
      fs.writeFileSync(
        paths.config,
        fs.readFileSync(paths.config, 'utf8').replace('    state BACKUP\n', '    state BACKUP\n    bogus_keyword 1\n'),
      );

      const r = run(keepalivedEngine.checkCommand(paths));
      assert.notEqual(r.status, 0, JSON.stringify(r));
      assert.match(r.stderr, /bogus_keyword/);
    });
  },
);
