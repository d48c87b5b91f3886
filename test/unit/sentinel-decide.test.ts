import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  fenceDue,
  pausedForBackup,
  promotionVerdict,
  reached,
  rejoinVerdict,
  type SemiSyncState,
  syncCandidate,
  syncStep,
} from '../../src/sentinel/decide.ts';
import type { MemberValue, SyncValue } from '../../src/sentinel/keys.ts';

const base = { host: 'db2', bootstrapPrimary: 'db1', dbUp: true, diverged: false };

test('promotion: only the sync replica, the last primary, or the bootstrap primary on a fresh store', () => {
  const sync: SyncValue = { primary: 'db1', term: 3, eligible: 'db2' };
  assert.equal(promotionVerdict({ ...base, sync }).ok, true);
  assert.equal(promotionVerdict({ ...base, host: 'db1', sync }).ok, true);
  const stale = promotionVerdict({ ...base, host: 'db3', sync });
  assert.deepEqual(stale, { ok: false, reason: 'db2 is the sync replica of term 3, not db3' });
  const none = promotionVerdict({ ...base, sync: { ...sync, eligible: null } });
  assert.equal(none.ok, false);
  assert.match(none.reason, /no replica is known to hold every acknowledged write of term 3; only db1/);
  assert.equal(promotionVerdict({ ...base, sync: null }).ok, false);
  assert.equal(promotionVerdict({ ...base, host: 'db1', sync: null }).ok, true);
});

test('promotion: never with the local database down or diverged', () => {
  const sync: SyncValue = { primary: 'db1', term: 1, eligible: 'db2' };
  assert.equal(promotionVerdict({ ...base, sync, dbUp: false }).ok, false);
  assert.equal(promotionVerdict({ ...base, sync, diverged: true }).ok, false);
});

test('fenceDue: after 60 % of the TTL since the last renewal was sent', () => {
  assert.equal(fenceDue(1600, 1000, 1000), false);
  assert.equal(fenceDue(1601, 1000, 1000), true);
});

test('rejoin: a prefix of the leader’s history replicates; an unacknowledged local commit has diverged', () => {
  // The old primary (server 1) wrote up to 0-1-10; the new primary (2) holds it and went on.
  assert.equal(rejoinVerdict('0-1-10', '0-1-10,0-2-15').ok, true);
  assert.equal(rejoinVerdict('', '0-2-15').ok, true);
  // The old primary committed 0-1-11 that nobody received; the new primary wrote 0-2-11 on.
  const diverged = rejoinVerdict('0-1-11', '0-1-10,0-2-15');
  assert.equal(diverged.ok, false);
  assert.match(diverged.reason, /0-1-11 is not in the leader's binlog/);
  // Another domain the leader never saw.
  assert.equal(rejoinVerdict('0-1-10,1-1-3', '0-1-10,0-2-15').ok, false);
});

test('reached compares per domain', () => {
  assert.equal(reached('0-2-15,1-1-3', '0-1-10'), true);
  assert.equal(reached('0-2-9', '0-1-10'), false);
  assert.equal(reached('0-2-9', '0-1-9,1-1-1'), false);
});

const member = (over: Partial<MemberValue>): MemberValue => ({
  host: 'db2',
  role: 'replica',
  readOnly: true,
  gtidBinlogPos: '',
  gtidBinlogState: '',
  gtidSlavePos: '0-1-5',
  gtidIoPos: '0-1-5',
  masterHost: '127.0.0.1',
  ioRunning: true,
  sqlRunning: true,
  lagS: 0,
  at: 0,
  ...over,
});

test('syncCandidate: a replica of this primary with both threads running', () => {
  const self = { host: 'db1', address: '127.0.0.1' };
  assert.equal(syncCandidate([member({ host: 'db1', role: 'primary' }), member({})], self), 'db2');
  assert.equal(syncCandidate([member({ ioRunning: false })], self), null);
  assert.equal(syncCandidate([member({ masterHost: '127.0.0.9' })], self), null);
  assert.equal(syncCandidate([member({ role: 'diverged' })], self), null);
});

test('syncCandidate: a replica whose SQL thread the backup source paused stays the candidate; a stopped or broken one does not', () => {
  const self = { host: 'db1', address: '127.0.0.1' };
  const stopped = { sqlRunning: false, sqlErrno: 0 };
  // GIVEN the SQL thread stopped, the IO thread running, WHEN the source's marker is there: a pause.
  const paused = member({ sqlRunning: false, pausedForBackup: pausedForBackup(stopped, true) });
  assert.equal(syncCandidate([paused], self), 'db2');
  // Stopped on an error, marker or not: the relay log could not be applied.
  assert.equal(pausedForBackup({ sqlRunning: false, sqlErrno: 1062 }, true), false);
  const broken = member({
    sqlRunning: false,
    pausedForBackup: pausedForBackup({ sqlRunning: false, sqlErrno: 1062 }, true),
  });
  assert.equal(syncCandidate([broken], self), null);
  // Stopped without the marker (a person): no pause.
  assert.equal(pausedForBackup(stopped, false), false);
  assert.equal(
    syncCandidate([member({ sqlRunning: false, pausedForBackup: pausedForBackup(stopped, false) })], self),
    null,
  );
  // A member key from an older sentinel (no flag) with the thread stopped.
  assert.equal(syncCandidate([member({ sqlRunning: false })], self), null);
  // The pause does not excuse a stopped IO thread: nothing would be acknowledged.
  assert.equal(syncCandidate([member({ sqlRunning: false, ioRunning: false, pausedForBackup: true })], self), null);
  // A running SQL thread is no pause, whatever the marker says.
  assert.equal(pausedForBackup({ sqlRunning: true, sqlErrno: 0 }, true), false);
});

test('syncStep: the sync replica paused for a backup is still replicating: nothing is dropped', () => {
  const self = { host: 'db1', address: '127.0.0.1' };
  const paused = member({ sqlRunning: false, pausedForBackup: true });
  const eligibleReplicating = syncCandidate([paused], self) !== null;
  assert.equal(step({ eligibleReplicating }).kind, 'none');
  const personStopped = member({ sqlRunning: false, pausedForBackup: false });
  assert.equal(step({ eligibleReplicating: syncCandidate([personStopped], self) !== null }).kind, 'drop');
});

const on: SemiSyncState = { enabled: true, on: true, clients: 1, waitSessions: 0 };
const step = (over: Partial<Parameters<typeof syncStep>[0]>) =>
  syncStep({
    sync: { primary: 'db1', term: 1, eligible: 'db2' },
    semi: on,
    candidate: 'db2',
    candidateCaughtUp: true,
    eligibleReplicating: true,
    waitingMs: 0,
    unackedMs: 0,
    syncWaitMs: 300,
    ...over,
  });

test('syncStep: a sync replica that goes away is dropped (etcd first, then semi-sync off)', () => {
  assert.equal(step({}).kind, 'none');
  assert.equal(step({ semi: { ...on, clients: 0 } }).kind, 'drop');
  assert.equal(step({ eligibleReplicating: false }).kind, 'drop');
  assert.equal(step({ waitingMs: 299 }).kind, 'none');
  assert.deepEqual(step({ waitingMs: 301 }), { kind: 'drop', reason: 'commits waited 301 ms for an acknowledgement' });
});

test('syncStep: with no sync replica, semi-sync comes on for a candidate and it is recorded once acknowledging and caught up', () => {
  const none: SyncValue = { primary: 'db1', term: 1, eligible: null };
  const off: SemiSyncState = { enabled: false, on: false, clients: 1, waitSessions: 0 };
  assert.deepEqual(step({ sync: none, semi: off }), { kind: 'enable', candidate: 'db2' });
  assert.equal(step({ sync: none, semi: off, candidate: null }).kind, 'none');
  assert.equal(step({ sync: none, semi: { ...on, on: false } }).kind, 'none');
  assert.equal(step({ sync: none, candidateCaughtUp: false }).kind, 'none');
  assert.deepEqual(step({ sync: none }), { kind: 'record', eligible: 'db2' });
  // Enabled, but nobody acknowledges: commits must not hang on.
  assert.equal(step({ sync: none, semi: { ...on, clients: 0 }, unackedMs: 301 }).kind, 'disable');
  assert.equal(step({ sync: none, candidate: null }).kind, 'disable');
});
