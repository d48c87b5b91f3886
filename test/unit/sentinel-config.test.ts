import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveSentinelConfig } from '../../src/sentinel/config.ts';
import { ConfigError } from '../../src/errors.ts';

const valid = {
  stack: 'foobar',
  host: 'db1',
  prefix: '/tandem/foobar/',
  etcd: { endpoints: ['https://127.0.0.1:2379'], ca: '/ca.pem' },
  db: { socket: '/run/db1.sock', address: '127.0.0.1', port: 3306 },
  peers: [
    { host: 'db1', address: '127.0.0.1', port: 3306 },
    { host: 'db2', address: '127.0.0.2', port: 3306 },
  ],
  replication: { user: 'repl', passwordFile: '/secrets/repl' },
  bootstrapPrimary: 'db1',
  stateFile: '/state/sentinel.json',
};

test('resolveSentinelConfig fills the defaults', () => {
  const c = resolveSentinelConfig(valid);
  assert.equal(c.leaseTtlS, 1);
  assert.equal(c.tickMs, 100);
  assert.equal(c.syncWaitMs, 300);
  assert.equal(c.fenceTimeoutMs, 200);
  assert.equal(c.etcd.timeoutMs, 250);
});

test('resolveSentinelConfig names every bad path at once', () => {
  const bad = {
    ...valid,
    host: 'db9',
    bootstrapPrimary: 'db7',
    prefix: '/tandem',
    leaseTtlS: 0,
    peers: [{ host: 'db1', address: 1 }],
  };
  assert.throws(
    () => resolveSentinelConfig(bad, 'sentinel.json'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => i.path),
        ['peers/0/address', 'peers/0/port', 'leaseTtlS', 'prefix', 'host', 'bootstrapPrimary'],
      );
      assert.match(err.message, /^sentinel.json: 6 problem\(s\):\n {2}peers\/0\/address: should be a non-empty string/);
      return true;
    },
  );
});

test('resolveSentinelConfig takes an optional metrics listener and names its bad fields', () => {
  assert.equal(resolveSentinelConfig(valid).metrics, undefined);
  assert.deepEqual(resolveSentinelConfig({ ...valid, metrics: { address: '10.77.0.13', port: 9109 } }).metrics, {
    address: '10.77.0.13',
    port: 9109,
  });
  assert.throws(
    () => resolveSentinelConfig({ ...valid, metrics: { address: '', port: 0 } }, 'sentinel.json'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => i.path),
        ['metrics/address', 'metrics/port'],
      );
      return true;
    },
  );
});

test('resolveSentinelConfig takes an optional backup pause marker and names it when bad', () => {
  assert.equal(resolveSentinelConfig(valid).backupPauseMarker, undefined);
  const marker = '/state/hosts/db1/backup-source/sql-thread-paused';
  assert.equal(resolveSentinelConfig({ ...valid, backupPauseMarker: marker }).backupPauseMarker, marker);
  assert.throws(
    () => resolveSentinelConfig({ ...valid, backupPauseMarker: 7 }, 'sentinel.json'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => i.path),
        ['backupPauseMarker'],
      );
      return true;
    },
  );
});
