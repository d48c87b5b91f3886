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

test('the collapse key takes bigint, Date, Buffer and nested arrays, and tells them from look-alikes', () => {
  const sql = 'SELECT * FROM t WHERE a = ?';
  const when = new Date('2026-11-24T05:00:00.000Z');
  const distinct = [
    [1n],
    [1],
    ['1'],
    [when],
    [when.toISOString()],
    [when.getTime()],
    [Buffer.from('ab')],
    ['ab'],
    [Buffer.from('6162')],
    [null],
    ['null'],
    [true],
    ['true'],
    [1, 2],
    ['1,2'],
    [[1, 2] as unknown as string],
    [[[1], 2] as unknown as string],
    [[1, [2]] as unknown as string],
    ['a', 'b'],
    ['a","b'],
  ];
  const keys = distinct.map((params) => collapseKey(sql, params));
  assert.equal(new Set(keys).size, distinct.length, keys.join('\n'));
  // equal values give equal keys, whatever the object identity
  assert.equal(collapseKey(sql, [new Date(when.getTime())]), collapseKey(sql, [when]));
  assert.equal(collapseKey(sql, [Buffer.from('ab')]), collapseKey(sql, [Buffer.from('ab')]));
  assert.equal(collapseKey(sql, [2n ** 64n]), collapseKey(sql, [BigInt('18446744073709551616')]));
  assert.notEqual(collapseKey(sql, [2n ** 64n]), collapseKey(sql, [2n ** 64n + 1n]));
});

test('joined callers each get their own rows: one changing its copy changes no other', async () => {
  const reads = new InFlightReads();
  let finish: (value: { rows: Record<string, unknown>[] }) => void = () => {};
  const start = () => new Promise<{ rows: Record<string, unknown>[] }>((resolve) => (finish = resolve));
  const callers = [reads.join('k', start), reads.join('k', start), reads.join('k', start)];
  const original = {
    rows: [{ id: 1n, name: 'one', at: new Date(0), blob: Buffer.from('x'), doc: { tags: ['a'] } }],
  };
  finish(original);
  const [a, b, c] = await Promise.all(callers);
  a!.rows[0]!.name = 'changed';
  a!.rows.push({ id: 2n });
  (a!.rows[0]!.at as Date).setTime(1000);
  (a!.rows[0]!.blob as Buffer)[0] = 0x79;
  (a!.rows[0]!.doc as { tags: string[] }).tags.push('b');
  for (const other of [b!, c!, original]) {
    assert.deepEqual(other.rows, [
      { id: 1n, name: 'one', at: new Date(0), blob: Buffer.from('x'), doc: { tags: ['a'] } },
    ]);
    assert.ok(Buffer.isBuffer(other.rows[0]!.blob) && other.rows[0]!.at instanceof Date);
  }
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
  const alone = ['x'];
  const other = reads.join('other', () => Promise.resolve(alone));
  assert.equal(started, 1);
  finish(['row']);
  assert.deepEqual(await first, ['row']);
  assert.deepEqual(await second, await first, 'joined callers see the one result');
  assert.notEqual(await second, await first, 'each in its own copy');
  assert.equal(await other, alone, 'a read nobody joined is handed over uncopied');
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
