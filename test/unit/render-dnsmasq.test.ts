import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import { dnsmasqEngine } from '../../src/engines/dnsmasq.ts';
import { dnsmasqPidFile, dnsmasqServiceFor, renderDnsmasq } from '../../src/render/dnsmasq.ts';
import {
  DEFAULT_STACK,
  installed,
  linesOf,
  netnsPlanOf,
  planOf,
  removeTempDirs,
  run,
  writeStack,
} from './fixtures/plans.ts';

after(removeTempDirs);

describe('renderDnsmasq', () => {
  it('answers the zone on the client address only, forwarding nothing', () => {
    const plan = netnsPlanOf(DEFAULT_STACK);
    const paths = servicePaths(dnsmasqServiceFor(plan));
    const lines = linesOf(renderDnsmasq(plan));

    for (const expected of [
      'listen-address=10.77.0.2',
      'bind-interfaces',
      'port=53',
      'no-resolv',
      'no-hosts',
      'no-poll',
      'domain-needed',
      'bogus-priv',
      'local=/foobar.com/',
      `pid-file=${dnsmasqPidFile(paths.data)}`,
      `log-facility=${paths.log}`,
    ]) {
      assert.ok(lines.includes(expected), `missing line: ${expected}`);
    }
    assert.ok(!lines.some((l) => /^(server|address)=/.test(l)), 'no upstream server, no wildcard address');
  });

  it('has an exact host-record for every name of the plan: the domain names to the VIP, hosts to their addresses', () => {
    const plan = netnsPlanOf(DEFAULT_STACK);
    const records = linesOf(renderDnsmasq(plan)).filter((l) => l.startsWith('host-record='));

    assert.deepEqual(records, [
      'host-record=foobar.com,10.77.0.10',
      'host-record=www.foobar.com,10.77.0.10',
      'host-record=lb-1,10.77.0.11',
      'host-record=lb-1.foobar.com,10.77.0.11',
      'host-record=lb-2,10.77.0.12',
      'host-record=lb-2.foobar.com,10.77.0.12',
      'host-record=server-1,10.77.0.13',
      'host-record=server-1.foobar.com,10.77.0.13',
      'host-record=server-2,10.77.0.14',
      'host-record=server-2.foobar.com,10.77.0.14',
      'host-record=monitor,10.77.0.15',
      'host-record=monitor.foobar.com,10.77.0.15',
    ]);
    assert.equal(records.length, plan.dns.records.length);
  });

  it('refuses a plan without DNS (loopback)', () => {
    assert.throws(() => renderDnsmasq(planOf(DEFAULT_STACK)), /has no DNS server/);
  });
});

describe(
  'dnsmasq --test on the rendered config',
  {
    skip: !installed(dnsmasqEngine.binary) && 'dnsmasq is not installed',
  },
  () => {
    it('accepts the default netns stack', () => {
      const plan = netnsPlanOf(DEFAULT_STACK);
      writeStack(plan);
      const r = run(dnsmasqEngine.checkCommand(servicePaths(dnsmasqServiceFor(plan))));
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /syntax check OK/);
    });

    it('fails on an unknown option, so the check can fail', () => {
      const plan = netnsPlanOf(DEFAULT_STACK);
      writeStack(plan);
      const paths = servicePaths(dnsmasqServiceFor(plan));
      fs.appendFileSync(paths.config, 'bogus-option=1\n');

      const r = run(dnsmasqEngine.checkCommand(paths));
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /bad option at line \d+ of .*dnsmasq\.conf/);
    });
  },
);
