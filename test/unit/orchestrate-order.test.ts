import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StackEvent } from '../../src/orchestrate/events.ts';
import { dependencyOrder, runSteps, type Step } from '../../src/orchestrate/order.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A step that records when it ran and takes `ms`. */
function timed(name: string, after: string[], ms: number, log: string[], fail = false): Step {
  return {
    name,
    after,
    run: async () => {
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      if (fail) throw new Error(`${name} broke`);
      return true;
    },
  };
}

describe('dependency order', () => {
  it('names the route of a cycle', () => {
    const items = [
      { name: 'a', after: ['c'] },
      { name: 'b', after: ['a'] },
      { name: 'c', after: ['b'] },
    ];
    assert.throws(
      () =>
        dependencyOrder(
          items,
          (i) => i.name,
          (i) => i.after,
        ),
      /dependency cycle: a → c → b → a/,
    );
  });

  it('names a step that comes after something missing', () => {
    assert.throws(
      () =>
        dependencyOrder(
          [{ name: 'app', after: ['db'] }],
          (i) => i.name,
          (i) => i.after,
        ),
      /app starts after db, which is not in the plan/,
    );
  });

  it('refuses two steps of one name: one would be lost without a word', () => {
    assert.throws(
      () =>
        dependencyOrder(
          [
            { name: 'stop server-1/app', after: [] },
            { name: 'stop server-1/app', after: [] },
          ],
          (i) => i.name,
          (i) => i.after,
        ),
      /two steps are named stop server-1\/app/,
    );
  });
});

describe('runSteps', () => {
  it('runs independent steps side by side and a dependent step after both', async () => {
    const log: string[] = [];
    const events: StackEvent[] = [];
    const changed = await runSteps(
      (e) => events.push(e),
      [timed('db-1', [], 100, log), timed('db-2', [], 100, log), timed('app', ['db-1', 'db-2'], 10, log)],
    );
    assert.equal(changed, true);
    // Both databases start before either ends; the app starts after both ended.
    assert.deepEqual(log.slice(0, 2).sort(), ['start db-1', 'start db-2']);
    assert.ok(log.indexOf('start app') > log.indexOf('end db-1') && log.indexOf('start app') > log.indexOf('end db-2'));
    const done = events
      .filter((e) => e.kind === 'step' && e.status === 'done')
      .map((e) => (e as { step: string }).step);
    assert.deepEqual(done.slice(-1), ['app']);
    assert.equal(done.length, 3);
  });

  it('after a failure starts nothing more, lets running steps finish, and throws the failure', async () => {
    const log: string[] = [];
    const events: StackEvent[] = [];
    await assert.rejects(
      runSteps(
        (e) => events.push(e),
        [
          timed('fast-fails', [], 10, log, true),
          timed('slow', [], 80, log),
          timed('after-slow', ['slow'], 10, log),
          timed('after-failed', ['fast-fails'], 10, log),
        ],
      ),
      /fast-fails broke/,
    );
    assert.ok(log.includes('end slow'), 'the step under way finished');
    assert.ok(!log.includes('start after-slow'), 'no step started after the failure');
    assert.ok(!log.includes('start after-failed'));
    const reported = events
      .filter((e) => e.kind === 'step' && e.status !== 'start')
      .map((e) => `${(e as { step: string }).step} ${(e as { status: string }).status}`);
    assert.deepEqual(reported, ['fast-fails failed', 'slow done']);
  });
});
