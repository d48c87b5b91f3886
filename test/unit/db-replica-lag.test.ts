import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gtidReached, parseGtidPosition } from '../../src/db/gtid.ts';
import { replicaProblem } from '../../src/db/health.ts';
import { PrimaryPositions } from '../../src/db/replica-lag.ts';

test('GTID positions compare by domain and sequence, not by server id', () => {
  const pos = (p: string) => parseGtidPosition(p);
  assert.deepEqual(
    pos('0-1-5,1-2-18446744073709551615'),
    new Map([
      [0, 5n],
      [1, 18446744073709551615n],
    ]),
  );
  assert.equal(pos('').size, 0);
  assert.deepEqual(
    pos('0-1-5,\n1-1-2'),
    new Map([
      [0, 5n],
      [1, 2n],
    ]),
    'a position broken into lines',
  );
  assert.throws(() => pos("0-1-5'; DROP"), /not a GTID position/);
  assert.equal(gtidReached(pos('0-1-5'), pos('0-1-5')), true);
  assert.equal(gtidReached(pos('0-2-6'), pos('0-1-5')), true, 'a later sequence from another server');
  assert.equal(gtidReached(pos('0-1-4'), pos('0-1-5')), false);
  assert.equal(gtidReached(pos('0-1-9'), pos('0-1-5,1-1-1')), false, 'a domain it has never seen');
  assert.equal(gtidReached(pos('0-1-9,1-1-1'), pos('0-1-5')), true);
  assert.equal(gtidReached(pos(''), pos('')), true);
});

test('lag is the age of the oldest primary position the replica lacks', () => {
  const primary = new PrimaryPositions(10_000);
  primary.record('0-1-5', 1000);
  primary.record('0-1-5', 1500); // unchanged: keeps its first sighting
  primary.record('0-1-8', 2000);
  primary.record('0-1-9', 3000);
  assert.equal(primary.size, 3);
  assert.equal(primary.lagMs('0-1-9', 3500), 0, 'caught up');
  assert.equal(primary.lagMs('0-1-10', 3500), 0, 'ahead');
  assert.equal(primary.lagMs('0-1-8', 3500), 500, 'lacks 0-1-9, first seen at 3000');
  assert.equal(primary.lagMs('0-1-6', 3500), 1500, 'lacks 0-1-8, first seen at 2000');
  assert.equal(primary.lagMs('0-1-2', 3500), 2500);
  assert.equal(primary.lagMs('', 3500), 2500, 'an empty replica');
});

test('old positions are dropped, but an idle primary still measures a stuck replica from its last write', () => {
  const primary = new PrimaryPositions(1000);
  primary.record('0-1-1', 0);
  primary.record('0-1-2', 100);
  // idle for a minute, then one write
  primary.record('0-1-3', 60_000);
  assert.equal(primary.size, 2, 'keeps the newest sample older than the horizon, and newer ones');
  assert.equal(primary.lagMs('0-1-1', 60_500), 60_400, 'lacks 0-1-2, first seen at 100');
  assert.equal(primary.lagMs('0-1-2', 60_500), 500);
});

test('a primary whose position went back (another server took over) restarts the history', () => {
  const primary = new PrimaryPositions(10_000);
  primary.record('0-1-9', 0);
  primary.record('0-2-7', 1000);
  assert.equal(primary.size, 1);
  assert.equal(primary.lagMs('0-1-7', 1500), 0, 'measured against the new primary only');
  assert.equal(primary.lagMs('0-1-6', 1500), 500);
});

test('a replica serves reads only while it replicates and lags within the bound, judged while the primary answers', () => {
  assert.equal(replicaProblem({ running: 'ON', lagMs: 0 }, true, 1000), undefined);
  assert.equal(replicaProblem({ running: 'ON', lagMs: 1000 }, true, 1000), undefined);
  assert.equal(
    replicaProblem({ running: 'ON', lagMs: 1001 }, true, 1000),
    'replica is at least 1001 ms behind the primary (bound 1000 ms)',
  );
  assert.equal(
    replicaProblem({ running: 'OFF', lagMs: 0 }, true, 1000),
    'replication is not running (Slave_running OFF)',
  );
  assert.equal(
    replicaProblem({ running: null, lagMs: 0 }, true, 1000),
    'replication is not running (Slave_running absent)',
  );
  // the primary is down: every replica's IO thread is disconnected; a replica beats nothing
  assert.equal(replicaProblem({ running: 'OFF', lagMs: 60_000 }, false, 1000), undefined);
});
