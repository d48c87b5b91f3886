import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplicaHealth } from '../../src/db/backoff.ts';
import { isGtidPosition } from '../../src/db/gtid.ts';

test('an ejected replica backs off 0.5 s doubling to 10 s, and a success resets it', () => {
  const health = new ReplicaHealth(500, 10_000);
  assert.equal(health.healthy, true);
  const delays = Array.from({ length: 7 }, () => health.fail(0, 'down'));
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  assert.equal(health.healthy, false);
  assert.equal(health.dueForRetry(9_999), false);
  assert.equal(health.dueForRetry(10_000), true);
  assert.equal(health.succeed(), true);
  assert.equal(health.healthy, true);
  assert.equal(health.fail(0, 'down again'), 500);
});

test('GTID positions', () => {
  assert.equal(isGtidPosition('0-1-42'), true);
  assert.equal(isGtidPosition('0-1-42,1-2-7'), true);
  assert.equal(isGtidPosition('0-1'), false);
  assert.equal(isGtidPosition("0-1-1' OR 1"), false);
  assert.equal(isGtidPosition(''), false);
});
