/** The kernel settings tandem gives each host's namespace (netns hosting). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostSysctls } from '../../src/hosts/netns.ts';

describe('hostSysctls', () => {
  it('lets a load balancer bind the VIP it does not hold, and a database give up on a silent peer sooner', () => {
    assert.deepEqual(hostSysctls({ roles: ['lb'] }), ['net.ipv4.ip_nonlocal_bind=1']);
    assert.deepEqual(hostSysctls({ roles: ['web', 'app', 'db'] }), ['net.ipv4.tcp_retries2=5']);
    assert.deepEqual(hostSysctls({ roles: ['lb', 'db'] }), ['net.ipv4.ip_nonlocal_bind=1', 'net.ipv4.tcp_retries2=5']);
    assert.deepEqual(hostSysctls({ roles: ['web', 'app'] }), []);
  });
});
