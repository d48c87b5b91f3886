/** The per-stack lock: one holder, named by PID and command; stale locks are taken over; released on error. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { TandemError } from '../../src/errors.ts';
import { processStartTime } from '../../src/hosts/proc.ts';
import { lockPath, readLockHolder, withStackLock } from '../../src/orchestrate/lock.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-lock-'));
const plan = { name: 'locky', stateDir: path.join(root, '.tandem') };
const noWait = { wait: false };

describe('withStackLock', () => {
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('holds the lock while the work runs, names its holder, and releases it after', async () => {
    const seen = await withStackLock(plan, noWait, async () => readLockHolder(lockPath(plan.stateDir)));
    assert.equal(seen?.pid, process.pid);
    assert.equal(seen?.startTime, processStartTime(process.pid));
    assert.match(seen?.command ?? '', /^tandem/);
    assert.equal(fs.existsSync(lockPath(plan.stateDir)), false);
  });

  it('refuses a second holder, naming the first one', async () => {
    await withStackLock(plan, noWait, async () => {
      await assert.rejects(
        withStackLock(plan, noWait, async () => 'ran'),
        (err: TandemError) =>
          err.code === 'TANDEM_LOCKED' &&
          err.message.includes(`pid ${process.pid} (tandem`) &&
          /--wait/.test(err.hint ?? ''),
      );
    });
  });

  it('with wait, runs once the holder has let go', async () => {
    const order: string[] = [];
    const logs: string[] = [];
    const first = withStackLock(plan, noWait, async () => {
      await new Promise((r) => setTimeout(r, 300));
      order.push('first');
    });
    const second = withStackLock(plan, { wait: true, log: (m) => logs.push(m) }, async () => order.push('second'));
    await Promise.all([first, second]);
    assert.deepEqual(order, ['first', 'second']);
    assert.match(logs.join('\n'), new RegExp(`waiting for pid ${process.pid} `));
  });

  it('takes over a lock whose holder is gone (same PID, another start time)', async () => {
    fs.mkdirSync(plan.stateDir, { recursive: true });
    const stale = { pid: process.pid, startTime: processStartTime(process.pid)! + 1, command: 'tandem up', since: '' };
    fs.writeFileSync(lockPath(plan.stateDir), JSON.stringify(stale));
    assert.equal(await withStackLock(plan, noWait, async () => 'ran'), 'ran');
  });

  it('releases the lock when the work throws, and removes a state folder it made only for the lock', async () => {
    const fresh = { name: 'fresh', stateDir: path.join(root, 'fresh', '.tandem') };
    fs.mkdirSync(path.dirname(fresh.stateDir));
    await assert.rejects(
      withStackLock(fresh, noWait, async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(fs.existsSync(fresh.stateDir), false);
    await withStackLock(plan, noWait, async () => fs.writeFileSync(path.join(plan.stateDir, 'kept'), ''));
    assert.equal(fs.existsSync(path.join(plan.stateDir, 'kept')), true, 'a folder with content stays');
  });
});
