/** User errors through the CLI: exit 1, a message naming each bad path, nothing started. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { bindError } from '../../src/hosts/net.ts';
import { TestStack } from '../support/stack.ts';

describe('tandem with bad input', () => {
  const stacks: TestStack[] = [];
  after(async () => {
    for (const s of stacks) await s.cleanup();
  });

  it('GIVEN an unknown key, two hosts on one address and no primary THEN exits 1 naming each path and starts nothing', async () => {
    const stack = new TestStack('badcfg', {
      hosting: 'loopback',
      colour: 'blue',
      hosts: [
        { name: 'lb-1', roles: ['lb'], address: '127.65.0.11' },
        { name: 'server-1', roles: ['web', 'app', 'db'], address: '127.65.0.12' },
        { name: 'server-2', roles: ['web', 'app', 'db'], address: '127.65.0.12' },
      ],
    } as never);
    stacks.push(stack);
    const r = await stack.run('up');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /colour: unknown key/);
    assert.match(r.stderr, /hosts\/2\/address: 127\.65\.0\.12 is already the address of hosts\/1/);
    assert.match(r.stderr, /database\/primary: is required/);
    assert.match(r.stderr, /nothing was started/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'a user error prints no stack trace');
    assert.equal(fs.existsSync(`${stack.dir}/.tandem`), false, 'no state folder was created');
    assert.equal(await bindError('127.65.0.11', 80), undefined, 'nothing listens on the LB address');
  });

  it('GIVEN the LB address:port is taken THEN exits 1 saying which, and starts nothing', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(8181, '127.66.0.11', () => r()));
    try {
      const stack = new TestStack('taken', {
        hosting: 'loopback',
        network: { subnet: '127.66.0.0/24' },
        lb: { port: 8181 },
      });
      stacks.push(stack);
      const r = await stack.run('up');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /127\.66\.0\.11:8181 \(for lb-1\/haproxy\): EADDRINUSE/);
      assert.equal(await bindError('127.66.0.13', 3306), undefined, 'no database was started');
    } finally {
      blocker.close();
    }
  });

  it('an unknown command exits 1 with usage', async () => {
    const stack = new TestStack('usage', {});
    stacks.push(stack);
    const r = await stack.run('launch');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown command 'launch'/);
  });

  it('doctor reports every engine present', async () => {
    const stack = new TestStack('doctor', {});
    stacks.push(stack);
    const r = await stack.run('doctor', '--json');
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: { what: string; ok: boolean }[] };
    assert.ok(report.checks.some((c) => c.what.includes('/usr/sbin/haproxy') && c.ok));
    assert.equal(r.code, report.ok ? 0 : 1);
  });
});
