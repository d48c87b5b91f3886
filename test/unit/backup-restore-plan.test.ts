import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArchivedFile, ArchiveIndex } from '../../src/backup/archive-index.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import { planRestore, RestoreRefused } from '../../src/backup/restore-plan.ts';

const T0 = Date.parse('2026-11-25T00:00:00Z') / 1000;

function backup(id: string, endedMin: number, gtid: string, more: Partial<BackupManifest> = {}): BackupManifest {
  return {
    version: 1,
    id,
    kind: more.base ? 'incremental' : 'full',
    chain: [id],
    startedAt: new Date((T0 + endedMin * 60 - 5) * 1000).toISOString(),
    endedAt: new Date((T0 + endedMin * 60) * 1000).toISOString(),
    source: { host: 'server-2', role: 'replica', why: 'healthy replica' },
    gtid,
    checkpoints: { backupType: 'full-backuped', fromLsn: '0', toLsn: '1' },
    streamBytes: 1,
    storedBytes: 1,
    sha256: 'x',
    verification: 'verified',
    ...more,
  };
}

function file(name: string, firstGtid: string, lastGtid: string, firstMin: number, lastMin: number): ArchivedFile {
  return {
    host: 'server-1',
    name,
    binlog: name,
    startPos: 4,
    file: `server-1/${name}.enc`,
    encrypted: true,
    size: 100,
    gtidList: '',
    firstGtid,
    lastGtid,
    firstTime: T0 + firstMin * 60,
    lastTime: T0 + lastMin * 60,
    rotated: true,
  };
}

// Backups at minutes 10 (0-1-100), 20 (incremental, 0-1-200), 30 (0-1-300); the archive
// from 0-1-1 to 0-1-400, minutes 0 to 40, in four files of 100 transactions.
const FULL10 = backup('b10-full', 10, '0-1-100');
const INC20 = backup('b20-incremental', 20, '0-1-200', { base: 'b10-full', chain: ['b10-full', 'b20-incremental'] });
const FULL30 = backup('b30-full', 30, '0-1-300');
const FILES = [0, 1, 2, 3].map((i) =>
  file(`binlog.00000${i + 1}`, `0-1-${i * 100 + 1}`, `0-1-${i * 100 + 100}`, i * 10, i * 10 + 10),
);
const INDEX: ArchiveIndex = {
  version: 1,
  files: FILES.map((f, i) => ({ ...f, gtidList: i === 0 ? '' : `0-1-${i * 100}` })),
  holes: [],
};
const key = { keyPresent: true };

describe('planning a restore', () => {
  it('--at a time: the newest verified backup before it, then the files from its GTID on', () => {
    const plan = planRestore([FULL10, INC20, FULL30], INDEX, { time: T0 + 25 * 60 }, key);
    assert.deepEqual(
      plan.chain.map((m) => m.id),
      ['b10-full', 'b20-incremental'],
    );
    assert.equal(plan.startGtid, '0-1-200');
    assert.deepEqual(
      plan.binlogs.map((f) => f.name),
      ['binlog.000003'],
    );
    assert.deepEqual(plan.skipped, []);
  });

  it('--gtid: inclusive; a backup at exactly that GTID needs no binlog', () => {
    const plan = planRestore([FULL10, INC20, FULL30], INDEX, { gtid: '0-1-300' }, key);
    assert.deepEqual(
      plan.chain.map((m) => m.id),
      ['b30-full'],
    );
    assert.deepEqual(plan.binlogs, []);
    const later = planRestore([FULL10, INC20, FULL30], INDEX, { gtid: '0-1-350' }, key);
    assert.deepEqual(
      later.binlogs.map((f) => f.name),
      ['binlog.000004'],
    );
  });

  it('a failed (corrupt) newer backup is passed over, and the plan says which and why', () => {
    const corrupt = { ...FULL30, verification: 'failed' as const, failure: 'sha256 mismatch' };
    const plan = planRestore([FULL10, INC20, corrupt], INDEX, { time: T0 + 35 * 60 }, key);
    assert.deepEqual(
      plan.chain.map((m) => m.id),
      ['b10-full', 'b20-incremental'],
    );
    assert.deepEqual(plan.skipped, [{ id: 'b30-full', why: 'it is failed: sha256 mismatch' }]);
    assert.deepEqual(
      plan.binlogs.map((f) => f.name),
      ['binlog.000003', 'binlog.000004'],
    );
  });

  it('an incremental whose base failed is not used', () => {
    const badBase = { ...FULL10, verification: 'failed' as const };
    assert.throws(
      () => planRestore([badBase, INC20], INDEX, { time: T0 + 25 * 60 }, key),
      (e: Error) => e instanceof RestoreRefused && /b10-full in its chain is failed/.test(e.message),
    );
  });

  it('refuses a time before the oldest backup, naming it', () => {
    assert.throws(
      () => planRestore([FULL10, INC20, FULL30], INDEX, { time: T0 + 5 * 60 }, key),
      (e: Error) => e instanceof RestoreRefused && /oldest one, b10-full, ended at 2026-11-25T00:10:00/.test(e.message),
    );
  });

  it('refuses a GTID the archive never saw', () => {
    assert.throws(
      () => planRestore([FULL10], INDEX, { gtid: '0-1-401' }, key),
      (e: Error) => e instanceof RestoreRefused && /never archived/.test(e.message) && /0-…-400/.test(e.message),
    );
    assert.throws(() => planRestore([FULL10], INDEX, { gtid: '7-1-1' }, key), RestoreRefused);
  });

  it('refuses without the key, before looking at anything', () => {
    assert.throws(
      () => planRestore([FULL10], INDEX, { time: T0 + 25 * 60 }, { keyPresent: false }),
      (e: Error) => e instanceof RestoreRefused && /backup key/.test(e.message),
    );
  });

  it('refuses a target past a hole in the archive after the backup, and accepts one before it', () => {
    const holed: ArchiveIndex = {
      ...INDEX,
      holes: [
        { at: '2026-11-25T00:31:00Z', host: 'server-1', name: 'binlog.000004', have: '0-0-300', next: '0-1-310' },
      ],
    };
    assert.throws(
      () => planRestore([FULL10], holed, { time: T0 + 35 * 60 }, key),
      (e: Error) => e instanceof RestoreRefused && /gap after 0-0-300/.test(e.message),
    );
    assert.equal(planRestore([FULL10], holed, { time: T0 + 25 * 60 }, key).binlogs.length, 2);
    // A backup taken after the hole restores past it.
    const after = backup('b35-full', 35, '0-1-350');
    assert.equal(planRestore([FULL10, after], holed, { time: T0 + 38 * 60 }, key).chain[0]!.id, 'b35-full');
  });

  it('refuses when no backup is verified at all, saying why each is not', () => {
    assert.throws(
      () => planRestore([{ ...FULL10, verification: 'pending' }], INDEX, { time: T0 + 25 * 60 }, key),
      (e: Error) => /no verified backup exists \(b10-full: it is pending\)/.test(e.message),
    );
  });
});
