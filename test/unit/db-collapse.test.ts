import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collapseKey, InFlightReads, mayCollapse } from '../../src/db/collapse.ts';

test('only reads that need no fresh data may collapse, and only when collapsing is on', () => {
  assert.equal(mayCollapse(true, {}), true);
  assert.equal(mayCollapse(false, {}), false);
  assert.equal(mayCollapse(true, { minGtid: '0-1-5' }), false);
  assert.equal(mayCollapse(true, { primary: true }), false);
  assert.equal(mayCollapse(true, { primary: false }), true);
});

test('the collapse key tells apart SQL and parameters, including their types', () => {
  const sql = 'SELECT * FROM posts WHERE id = ?';
  assert.equal(collapseKey(sql, [1]), collapseKey(sql, [1]));
  assert.notEqual(collapseKey(sql, [1]), collapseKey(sql, [2]));
  assert.notEqual(collapseKey(sql, [1]), collapseKey(sql, ['1']));
  assert.notEqual(collapseKey(sql, [1]), collapseKey('SELECT * FROM users WHERE id = ?', [1]));
  assert.notEqual(collapseKey('SELECT ?', [12]), collapseKey('SELECT ?1', [2]));
});

test('a read in flight is joined; once settled, the next read runs again', async () => {
  const reads = new InFlightReads();
  let started = 0;
  let finish: (rows: string[]) => void = () => {};
  const start = () => {
    started++;
    return new Promise<string[]>((resolve) => (finish = resolve));
  };
  const first = reads.join('k', start);
  const second = reads.join('k', start);
  const other = reads.join('other', () => Promise.resolve(['x']));
  assert.equal(started, 1);
  finish(['row']);
  assert.deepEqual(await first, ['row']);
  assert.equal(await second, await first, 'joined callers share the one result');
  assert.deepEqual(await other, ['x']);
  assert.equal(reads.size, 0);
  void reads.join('k', start);
  assert.equal(started, 2);
  finish([]);
});

test('a failed read fails every joined caller and is forgotten', async () => {
  const reads = new InFlightReads();
  let fail: (err: Error) => void = () => {};
  const failing = () => new Promise<never>((_, reject) => (fail = reject));
  const a = reads.join('k', failing);
  const b = reads.join('k', failing);
  fail(new Error('server gone'));
  await assert.rejects(a, /server gone/);
  await assert.rejects(b, /server gone/);
  assert.equal(reads.size, 0);
  assert.deepEqual(await reads.join('k', () => Promise.resolve(1)), 1);
});
