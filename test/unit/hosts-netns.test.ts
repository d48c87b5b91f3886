/** The kernel settings tandem gives each host's namespace, and how it runs commands there (netns hosting). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostSysctls, inNamespace, probeInNamespace } from '../../src/hosts/netns.ts';

describe('hostSysctls', () => {
  it('lets a load balancer bind the VIP it does not hold, and a database give up on a silent peer sooner', () => {
    assert.deepEqual(hostSysctls({ roles: ['lb'] }), ['net.ipv4.ip_nonlocal_bind=1']);
    assert.deepEqual(hostSysctls({ roles: ['web', 'app', 'db'] }), ['net.ipv4.tcp_retries2=5']);
    assert.deepEqual(hostSysctls({ roles: ['lb', 'db'] }), ['net.ipv4.ip_nonlocal_bind=1', 'net.ipv4.tcp_retries2=5']);
    assert.deepEqual(hostSysctls({ roles: ['web', 'app'] }), []);
  });
});

describe('commands in a host namespace', () => {
  it('runs a probe in the network namespace alone, anything else through ip netns exec, and both as is without one', () => {
    const host = { namespace: 'tandem-x-lb-1' };
    assert.deepEqual(probeInNamespace(host, ['curl', '-s']), [
      '/usr/bin/nsenter',
      '--net=/run/netns/tandem-x-lb-1',
      'curl',
      '-s',
    ]);
    assert.deepEqual(inNamespace(host, ['getent', 'hosts']), [
      '/usr/sbin/ip',
      'netns',
      'exec',
      'tandem-x-lb-1',
      'getent',
      'hosts',
    ]);
    assert.deepEqual(probeInNamespace({}, ['ss', '-Hltn']), ['ss', '-Hltn']);
  });
});
