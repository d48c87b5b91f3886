/** The sign-in throttle's verdict: who may try again, and after how long. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type FailureCounts, retryAfterSeconds, SIGNIN_LIMITS } from '../../src/app/throttle.ts';

const NONE: FailureCounts = {
  pair: 0,
  address: 0,
  user: 0,
  pairOldestMs: null,
  pairNewestMs: null,
  addressOldestMs: null,
};

describe('retryAfterSeconds', () => {
  test('lets an attempt through below every limit', () => {
    assert.equal(retryAfterSeconds(NONE, SIGNIN_LIMITS), undefined);
    const nine = { ...NONE, pair: 9, address: 9, user: 9, pairOldestMs: 5000, pairNewestMs: 10, addressOldestMs: 5000 };
    assert.equal(retryAfterSeconds(nine, SIGNIN_LIMITS), undefined);
  });

  test('refuses the 11th attempt of one address at one username until the oldest failure leaves the minute', () => {
    const ten = {
      ...NONE,
      pair: 10,
      address: 10,
      user: 10,
      pairOldestMs: 15_500,
      pairNewestMs: 10,
      addressOldestMs: 15_500,
    };
    assert.equal(retryAfterSeconds(ten, SIGNIN_LIMITS), 45);
  });

  test('refuses an address that failed 30 times over many usernames', () => {
    const spray = {
      ...NONE,
      pair: 1,
      address: 30,
      user: 1,
      pairOldestMs: 100,
      pairNewestMs: 100,
      addressOldestMs: 59_900,
    };
    assert.equal(retryAfterSeconds(spray, SIGNIN_LIMITS), 1);
  });

  test('past 100 failures of one username, refuses addresses that failed it, not a fresh one', () => {
    const attacked = { ...NONE, user: 100 };
    assert.equal(retryAfterSeconds(attacked, SIGNIN_LIMITS), undefined, 'the owner, from an address with no failure');
    const attacker = {
      ...attacked,
      pair: 1,
      address: 1,
      pairOldestMs: 20_000,
      pairNewestMs: 20_000,
      addressOldestMs: 20_000,
    };
    assert.equal(retryAfterSeconds(attacker, SIGNIN_LIMITS), 40);
  });

  test('waits for the longest of several limits', () => {
    const both = {
      ...NONE,
      pair: 10,
      address: 30,
      user: 10,
      pairOldestMs: 50_000,
      pairNewestMs: 0,
      addressOldestMs: 1_000,
    };
    assert.equal(retryAfterSeconds(both, SIGNIN_LIMITS), 59);
  });
});
