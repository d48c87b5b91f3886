import assert from 'node:assert/strict';
import { test } from 'node:test';
import { b64, parseKeepAlive, parseRange, parseTxn, prefixEnd, txnBody, unb64 } from '../../src/etcd/wire.ts';

test('prefixEnd increments the last byte below 0xff, as etcd clients do', () => {
  assert.equal(unb64(prefixEnd('/tandem/db/')), '/tandem/db0');
  // Bytes, not characters: 'ÿ' is c3 bf in UTF-8.
  assert.deepEqual([...Buffer.from(prefixEnd('aÿ'), 'base64')], [0x61, 0xc3, 0xc0]);
});

test('txnBody encodes keys and values in base64 and names each revision field', () => {
  const body = txnBody(
    [
      { key: 'k', target: 'CREATE', revision: '0' },
      { key: 's', target: 'MOD', revision: '7' },
      { key: 'v', target: 'VALUE', value: 'x' },
    ],
    [{ put: 'k', value: '{"a":1}', lease: '42' }, { delete: 'd' }],
    [{ get: 'k' }],
  );
  assert.deepEqual(body, {
    compare: [
      { key: b64('k'), target: 'CREATE', result: 'EQUAL', create_revision: '0' },
      { key: b64('s'), target: 'MOD', result: 'EQUAL', mod_revision: '7' },
      { key: b64('v'), target: 'VALUE', result: 'EQUAL', value: b64('x') },
    ],
    success: [
      { request_put: { key: b64('k'), value: b64('{"a":1}'), lease: '42' } },
      { request_delete_range: { key: b64('d') } },
    ],
    failure: [{ request_range: { key: b64('k') } }],
  });
});

test('parseRange decodes keys and keeps revisions as strings; no kvs is an empty list', () => {
  const kvs = parseRange({
    kvs: [{ key: b64('a'), value: b64('1'), create_revision: '9007199254740993', mod_revision: '3', version: '1' }],
  });
  assert.deepEqual(kvs, [
    { key: 'a', value: '1', createRevision: '9007199254740993', modRevision: '3', version: '1', lease: '0' },
  ]);
  assert.deepEqual(parseRange({ header: {} }), []);
});

test('parseTxn reports success and the keys a failure branch read', () => {
  const r = parseTxn({ responses: [{ response_range: { kvs: [{ key: b64('k'), value: b64('v') }] } }] });
  assert.equal(r.succeeded, false);
  assert.equal(r.kvs[0]?.value, 'v');
  assert.equal(parseTxn({ succeeded: true }).succeeded, true);
});

test('parseKeepAlive: a streamed answer carries the TTL; a lease gone answers without one', () => {
  assert.equal(parseKeepAlive({ result: { ID: '1', TTL: '2' } }), 2);
  assert.equal(parseKeepAlive({ result: { ID: '1' } }), 0);
});
