/**
 * The etcd client against a real etcd member on loopback: leases, transactions, and a
 * dead member that costs one per-call timeout, not a stall.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EtcdClient, EtcdUnavailable } from '../../src/etcd/client.ts';
import { EtcdMember } from '../support/etcd.ts';
import { sleep } from '../support/mariadb.ts';

let member: EtcdMember;
let client: EtcdClient;

before(async () => {
  member = await EtcdMember.start('127.88.0.1');
  client = new EtcdClient({ endpoints: [member.endpoint], timeoutMs: 500 });
});

after(async () => {
  client?.close();
  await member?.destroy();
});

test('put, get, range by prefix and delete', async () => {
  await client.put('/t/a', 'one');
  await client.put('/t/b', 'two');
  await client.put('/u', 'other');
  assert.equal((await client.get('/t/a'))?.value, 'one');
  assert.deepEqual(
    (await client.range('/t/', { prefix: true })).map((kv) => kv.key),
    ['/t/a', '/t/b'],
  );
  await client.delete('/t/', { prefix: true });
  assert.deepEqual(await client.range('/t/', { prefix: true }), []);
  assert.equal((await client.get('/u'))?.value, 'other');
});

test('create-if-absent: only the first of two txns takes the key', async () => {
  const take = (value: string) =>
    client.txn(
      [{ key: '/leader', target: 'CREATE', revision: '0' }],
      [{ put: '/leader', value }],
      [{ get: '/leader' }],
    );
  const first = await take('a');
  const second = await take('b');
  assert.equal(first.succeeded, true);
  assert.equal(second.succeeded, false);
  assert.equal(second.kvs[0]?.value, 'a');
  const swap = await client.txn([{ key: '/leader', target: 'VALUE', value: 'a' }], [{ delete: '/leader' }]);
  assert.equal(swap.succeeded, true);
  assert.equal(await client.get('/leader'), null);
});

test('a leased key lives while the lease is renewed and goes when it is not', async () => {
  const lease = await client.leaseGrant(1);
  assert.equal(lease.ttlS, 1);
  await client.put('/leased', 'x', lease.id);
  for (let i = 0; i < 10; i++) {
    assert.ok((await client.leaseKeepAlive(lease.id)) >= 1);
    await sleep(200);
  }
  assert.equal((await client.get('/leased'))?.lease, lease.id);
  // etcd checks expiry every 500 ms: gone between 1 and about 2 s.
  await sleep(2_200);
  assert.equal(await client.get('/leased'), null);
  assert.equal(await client.leaseKeepAlive(lease.id), 0);
});

test('revoking a lease deletes its keys at once; revoking it again is not an error', async () => {
  const lease = await client.leaseGrant(5);
  await client.put('/revoked', 'x', lease.id);
  await client.leaseRevoke(lease.id);
  assert.equal(await client.get('/revoked'), null);
  await client.leaseRevoke(lease.id);
});

test('a dead member first in the list costs one timeout; a dead cluster fails within the deadlines', async () => {
  // 127.88.0.2 listens nowhere; a blackholed member would hang until the per-call timeout.
  const both = new EtcdClient({ endpoints: ['http://127.88.0.2:2379', member.endpoint], timeoutMs: 300 });
  try {
    const started = performance.now();
    await both.put('/two', 'ok');
    assert.equal((await both.get('/two'))?.value, 'ok');
    assert.ok(performance.now() - started < 600, 'the live member answered within one timeout');
  } finally {
    both.close();
  }
  const dead = new EtcdClient({ endpoints: ['http://127.88.0.2:2379', 'http://127.88.0.3:2379'], timeoutMs: 300 });
  try {
    const started = performance.now();
    await assert.rejects(dead.get('/x'), EtcdUnavailable);
    assert.ok(performance.now() - started < 700);
  } finally {
    dead.close();
  }
});
