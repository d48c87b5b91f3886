import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkMinGtid, gtidWaitApplied } from '../../src/db/reads.ts';

test('a replica answers a read-your-writes read only when MASTER_GTID_WAIT says 0 (applied)', () => {
  assert.equal(gtidWaitApplied(0), true);
  assert.equal(gtidWaitApplied('0'), true);
  assert.equal(gtidWaitApplied(-1), false, 'timed out');
  assert.equal(gtidWaitApplied(null), false, 'NULL: the wait failed');
  assert.equal(gtidWaitApplied(undefined), false, 'no row');
});

test('minGtid must be a GTID position', () => {
  assert.doesNotThrow(() => checkMinGtid(undefined));
  assert.doesNotThrow(() => checkMinGtid('0-1-42,1-2-7'));
  assert.throws(() => checkMinGtid("0-1-1' OR 1"), TypeError);
});
