import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { type Replica, ReplicaSet, roundRobin } from '../../src/db/replica-set.ts';
import type { DbEvent } from '../../src/db/types.ts';

test('round-robin starts where the last pick left off, wraps, and skips ineligible items', () => {
  const items = ['a', 'b', 'c'];
  assert.deepEqual(
    roundRobin(items, 0, () => true),
    { item: 'a', next: 1 },
  );
  assert.deepEqual(
    roundRobin(items, 2, () => true),
    { item: 'c', next: 0 },
  );
  assert.deepEqual(
    roundRobin(items, 2, (i) => i !== 'c'),
    { item: 'a', next: 1 },
  );
  assert.equal(
    roundRobin(items, 1, () => false),
    undefined,
  );
  assert.equal(
    roundRobin([], 0, () => true),
    undefined,
  );
});

const server = (name: string) => ({ name });

function replicaSet(probe: (s: { name: string }) => Promise<unknown>, events: DbEvent[]) {
  return new ReplicaSet([server('r1'), server('r2')], {
    minBackoffMs: 5,
    maxBackoffMs: 40,
    probe,
    emit: (e) => events.push(e),
  });
}

test('picks alternate between healthy replicas, never one already tried', () => {
  const set = replicaSet(() => Promise.resolve(), []);
  const picked = [0, 1, 2, 3].map(() => set.pick(new Set())?.server.name);
  assert.deepEqual(picked, ['r1', 'r2', 'r1', 'r2']);
  const tried = new Set<Replica<{ name: string }>>([set.replicas[0]!]);
  assert.equal(set.pick(tried)?.server.name, 'r2');
  tried.add(set.replicas[1]!);
  assert.equal(set.pick(tried), undefined);
  set.close();
});

test('an ejected replica leaves the rotation once, is probed with back-off, and returns when a probe answers', async () => {
  const events: DbEvent[] = [];
  let answers = false;
  const probes: number[] = [];
  const set = replicaSet(() => {
    probes.push(Date.now());
    return answers ? Promise.resolve() : Promise.reject(new Error('still down'));
  }, events);
  const [r1] = set.replicas;
  set.eject(r1!, new Error('connection refused'));
  set.eject(r1!, new Error('connection refused')); // a concurrent failure of the same outage
  assert.deepEqual(events, [{ kind: 'replica-ejected', server: 'r1', error: 'connection refused', retryInMs: 5 }]);
  assert.deepEqual(
    [0, 1, 2].map(() => set.pick(new Set())?.server.name),
    ['r2', 'r2', 'r2'],
  );
  // Probes at +5 ms and +15 ms fail (back-off 5, 10, 20 ms); wait for two, on a busy machine too.
  const deadline = Date.now() + 2000;
  while (probes.length < 2 && Date.now() < deadline) await sleep(5);
  assert.ok(probes.length >= 2, `probed ${probes.length} times`);
  assert.ok(probes[1]! - probes[0]! >= 9, 'the second probe waited the doubled back-off');
  assert.equal(set.pick(new Set())?.server.name, 'r2', 'still out while probes fail');
  answers = true;
  while (!events.some((e) => e.kind === 'replica-restored') && Date.now() < deadline) await sleep(5);
  assert.deepEqual(events.at(-1), { kind: 'replica-restored', server: 'r1' });
  assert.equal(r1!.health.healthy, true);
  set.close();
});

test('a health ping that answers restores an ejected replica at once; close stops probing', async () => {
  const events: DbEvent[] = [];
  let probed = 0;
  const set = replicaSet(() => {
    probed++;
    return Promise.reject(new Error('down'));
  }, events);
  const [r1] = set.replicas;
  set.confirm(r1!);
  assert.equal(events.length, 0, 'a healthy replica that answers is no news');
  set.eject(r1!, new Error('down'));
  set.confirm(r1!);
  assert.deepEqual(
    events.map((e) => e.kind),
    ['replica-ejected', 'replica-restored'],
  );
  await sleep(20);
  assert.equal(probed, 0, 'the pending probe was cancelled');
  set.close();
  set.eject(r1!, new Error('after close'));
  assert.equal(events.length, 2, 'no ejection after close');
});
