/** The three-tier variant (web, app and db on separate hosts) comes up and serves the site. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import example from '../../examples/three-tier.config.ts';
import { TestStack } from '../support/stack.ts';

// The example file itself, moved to loopback hosts in their own subnet and temp folder;
// without its monitor host, which this test is not about (monitor-up.test.ts is).
const stack = new TestStack('three-tier', {
  ...example,
  hosts: example.hosts!.filter((h) => !h.roles.includes('monitor')),
  stateDir: undefined,
  hosting: 'loopback',
  network: { subnet: '127.64.0.0/24' },
});
const LB = 'http://127.64.0.11';

describe('three-tier variant', { timeout: 300_000 }, () => {
  before(() => stack.up());
  after(() => stack.cleanup());

  it('serves the site from both app hosts through both web hosts', async () => {
    const apps = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${LB}/whoami`, { headers: { host: 'foobar.com' } });
      assert.equal(res.status, 200);
      apps.add(((await res.json()) as { server: string }).server);
    }
    assert.deepEqual(apps, new Set(['app-1', 'app-2']));
    const status = await stack.status();
    assert.deepEqual(
      status.lb.backends.map((b) => [b.server, b.status]),
      [
        ['web-1', 'UP'],
        ['web-2', 'UP'],
      ],
    );
  });

  it('writes go to db-1 and replicate to db-2; the home page lists the post', async () => {
    const res = await fetch(`${LB}/posts`, {
      method: 'POST',
      headers: { host: 'foobar.com', 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'three-tier-1', body: 'from the three-tier test' }),
    });
    assert.equal(res.status, 201);
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const home = await fetch(`${LB}/`, { headers: { host: 'foobar.com', cookie } });
    assert.match(await home.text(), /from the three-tier test/);
    const status = await stack.status();
    assert.equal(status.db.primary, 'db-1');
    assert.equal(status.db.replication.running, true);
    assert.ok(status.hosts.find((h) => h.name === 'db-2')?.services.every((s) => s.state === 'running'));
  });
});
