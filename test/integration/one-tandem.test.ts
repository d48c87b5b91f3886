/**
 * One tandem at a time (issue 7 §4): `up`, `down`, `destroy` and the chaos commands
 * that change the stack hold a per-stack lock. A second one exits 1 naming the holder's
 * PID and command, or with --wait waits for it; `status` and `plan` take no lock.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { StackConfig } from '../../src/config/types.ts';
import { processStartTime } from '../../src/hosts/proc.ts';
import { type LockHolder, lockPath, readLockHolder } from '../../src/orchestrate/lock.ts';
import { processesUsing, sleep, TestStack } from '../support/stack.ts';

const CONFIG: StackConfig = { name: 'onetandem', hosting: 'loopback', network: { subnet: '127.73.0.0/24' } };
const stack = new TestStack('onetandem', CONFIG);
const LOCK = lockPath(path.join(stack.dir, '.tandem'));

async function lockHolder(timeoutMs: number): Promise<LockHolder | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const holder = readLockHolder(LOCK);
    if (holder) return holder;
    await sleep(20);
  }
  return undefined;
}

describe('one tandem at a time', { timeout: 600_000 }, () => {
  after(async () => {
    await stack.cleanup();
    assert.deepEqual(processesUsing(stack.dir), [], 'no process of the stack is left');
  });

  it('GIVEN an up in progress THEN a second up and chaos heal exit 1 naming it, status and plan work, and up --wait waits, then succeeds', async () => {
    // GIVEN a cold `up` (several seconds) holding the lock
    const first = stack.run('up');
    const holder = await lockHolder(30_000);
    assert.ok(holder, 'the first up took the lock');
    assert.match(fs.readFileSync(`/proc/${holder.pid}/cmdline`, 'utf8'), /tandem\.js\0up\0/);
    assert.match(holder.command, /^tandem up --config /);

    // Held still (SIGSTOP to the up this test started) while the checks run: a cold up
    // can finish within them on its own, and the lock with it.
    process.kill(holder.pid, 'SIGSTOP');
    let waiter: ReturnType<typeof stack.run>;
    try {
      // WHEN a second up starts THEN it exits 1 naming the holder's pid and command
      const second = await stack.run('up');
      assert.equal(second.code, 1, second.stdout);
      assert.match(second.stderr, new RegExp(`pid ${holder.pid} \\(tandem up --config [^)]+\\)`));
      assert.match(second.stderr, /--wait/);
      const heal = await stack.run('chaos', 'heal');
      assert.equal(heal.code, 1);
      assert.match(heal.stderr, new RegExp(`pid ${holder.pid} \\(tandem up`));

      // status and plan take no lock
      const status = await stack.run('status', '--json');
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout) as { name: string }).name, 'onetandem');
      assert.equal((await stack.run('plan', '--out', path.join(stack.dir, 'plan-out'))).code, 0);

      // up --wait waits for the holder, then runs
      assert.equal(readLockHolder(LOCK)?.pid, holder.pid, 'the first up still holds the lock');
      waiter = stack.run('up', '--wait');
      // Time for the waiter to start and find the lock held (the holder is still stopped).
      await sleep(1500);
    } finally {
      process.kill(holder.pid, 'SIGCONT');
    }
    const [a, b] = await Promise.all([first, waiter]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, new RegExp(`waiting for pid ${holder.pid} \\(tandem up`));
    assert.match(b.stdout, /nothing to change/);
    assert.equal(fs.existsSync(LOCK), false, 'the lock is released');
  });

  it('GIVEN a lock left by a holder that is gone THEN down takes it over', async () => {
    // A lock from a crashed tandem: its PID (ours, here) with another start time.
    const stale = { pid: process.pid, startTime: processStartTime(process.pid)! - 1, command: 'tandem up', since: '' };
    fs.writeFileSync(LOCK, JSON.stringify(stale));
    const r = await stack.run('down');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stopped \d+ service/);
    assert.equal(fs.existsSync(LOCK), false);
  });
});
