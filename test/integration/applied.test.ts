/**
 * State is recorded only after it holds (issue 7 §3): when an apply fails, nothing
 * records it as done, and the next `up` applies it instead of saying "unchanged".
 * The failure is real: HAProxy is asked to move to a port another process holds.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { StackConfig } from '../../src/config/types.ts';
import { processesUsing, TestStack } from '../support/stack.ts';

const CONFIG: StackConfig = { name: 'applied', hosting: 'loopback', network: { subnet: '127.72.0.0/24' } };
const stack = new TestStack('applied', CONFIG);
const LB = '127.72.0.11';
const NEW_PORT = 8282;

async function siteStatus(port: number): Promise<number> {
  try {
    const res = await fetch(`http://${LB}:${port}/`, {
      headers: { host: 'www.foobar.com' },
      signal: AbortSignal.timeout(3000),
    });
    return res.status;
  } catch {
    return 0;
  }
}

describe('state is recorded only after it holds', { timeout: 600_000 }, () => {
  before(async () => {
    await stack.up();
  });
  after(async () => {
    await stack.cleanup();
    assert.deepEqual(processesUsing(stack.dir), [], 'no process of the stack is left');
  });

  it('GIVEN HAProxy cannot bind its new port WHEN up fails THEN the next up, with the port free, applies it', async () => {
    // GIVEN another process holds the port the LB is to move to
    const blocker = net.createServer((socket) => socket.destroy());
    await new Promise<void>((r) => blocker.listen(NEW_PORT, LB, () => r()));
    stack.writeConfig({ ...CONFIG, lb: { port: NEW_PORT } });
    let failed;
    try {
      // WHEN up applies the new port: HAProxy's reload cannot bind it
      failed = await stack.run('up');
    } finally {
      blocker.close();
    }
    assert.equal(failed.code, 1, `up reported success although HAProxy could not bind:\n${failed.stdout}`);
    assert.match(failed.stdout, /✗ lb-1\/haproxy/);
    // It says why, naming the holder (this test's process), instead of waiting out the readiness timeout.
    assert.match(`${failed.stdout}\n${failed.stderr}`, new RegExp(`pid ${process.pid}\\b.*holds it`));
    // THEN the next up applies it (not "unchanged"), and the site answers on the new port
    const second = await stack.run('up');
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /✓ lb-1\/haproxy\s+(reloaded|restarted|started)/);
    assert.equal(await siteStatus(NEW_PORT), 200);
    // AND once applied, it is recorded: a third up changes nothing
    const third = await stack.run('up');
    assert.match(third.stdout, /= lb-1\/haproxy\s+unchanged/);
  });
});
