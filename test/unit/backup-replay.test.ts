import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArchivedFile, ArchiveIndex } from '../../src/backup/archive-index.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import {
  mustReach,
  onlyStopNotReached,
  parseGtidLine,
  reachedState,
  replayCommand,
  replaySteps,
  stopDatetimeAfter,
} from '../../src/backup/replay.ts';
import { planRestore, RestoreRefused } from '../../src/backup/restore-plan.ts';
import { parseRestoreTime } from '../../src/cli/args.ts';

function file(host: string, name: string, gtidList: string, first: string, last: string): ArchivedFile {
  return {
    host,
    name,
    binlog: name,
    startPos: 4,
    file: `${host}/${name}.enc`,
    encrypted: true,
    size: 100,
    gtidList,
    firstGtid: first,
    lastGtid: last,
    firstTime: 1000,
    lastTime: 2000,
    rotated: true,
  };
}

describe('point-in-time replay decisions', () => {
  it('stops every file at a GTID target, inclusive, and at the second after a time target', () => {
    const f = file('server-1', 'binlog.000001', '', '0-1-1', '0-1-9');
    const index: ArchiveIndex = { version: 1, files: [f], holes: [] };
    assert.deepEqual(replaySteps([f], index, { gtid: '0-1-5' }), [{ file: f, stopGtid: '0-1-5' }]);
    assert.deepEqual(replaySteps([f], index, { time: Date.parse('2026-11-25T03:04:05Z') / 1000 }), [
      { file: f, stopDatetime: '2026-11-25 03:04:06', stopTime: Date.parse('2026-11-25T03:04:06Z') / 1000 },
    ]);
  });

  it('expects a file wholly before the point replayed to its last GTID (or its stop), nothing of one the point cuts', () => {
    const f = file('server-1', 'binlog.000001', '', '0-1-1', '0-1-9');
    assert.equal(mustReach({ file: f }), '0-1-9');
    assert.equal(mustReach({ file: f, stopGtid: '0-0-5' }), '0-1-5');
    assert.equal(mustReach({ file: f, stopGtid: '0-0-12' }), '0-1-9');
    assert.equal(mustReach({ file: f, stopGtid: '1-0-3' }), '0-1-9', 'a stop in another domain does not cut it');
    assert.equal(mustReach({ file: f, stopTime: 2001 }), '0-1-9', 'its last commit (2000) is before the stop');
    assert.equal(mustReach({ file: f, stopTime: 2000 }), undefined, 'the stop second cuts inside it');
    assert.equal(mustReach({ file: { ...f, lastGtid: undefined } }), undefined);
  });

  it("cuts an old primary's file before a divergence the new primary's file records, not the new one's", () => {
    const old = file('server-1', 'binlog.000002', '0-1-10', '0-1-11', '0-1-15');
    const fresh = file('server-2', 'binlog.000004', '0-1-13', '0-2-14', '0-2-20');
    const index: ArchiveIndex = {
      version: 1,
      files: [old, fresh],
      holes: [],
      divergences: [{ at: 'x', host: 'server-2', name: 'binlog.000004', gtid: '0-2-14' }],
    };
    const steps = replaySteps([old, fresh], index, { time: 5000 });
    assert.equal(steps[0]!.stopGtid, '0-0-13');
    assert.equal(steps[1]!.stopGtid, undefined);
    // A GTID target below the divergence still wins.
    assert.equal(replaySteps([old, fresh], index, { gtid: '0-1-12' })[0]!.stopGtid, '0-0-12');
  });

  it('replays each file after the position reached so far (exclusive), with its stops', () => {
    const f = file('server-1', 'binlog.000001', '', '0-1-1', '0-1-9');
    assert.deepEqual(
      replayCommand({ file: f, stopGtid: '0-1-5', stopDatetime: '2026-11-25 03:04:06' }, '/w/b', '0-1-3'),
      [
        '/usr/bin/mariadb-binlog',
        '--start-position=0-1-3',
        '--stop-position=0-1-5',
        '--stop-datetime=2026-11-25 03:04:06',
        '/w/b',
      ],
    );
    assert.deepEqual(replayCommand({ file: f }, '/w/b', ''), ['/usr/bin/mariadb-binlog', '/w/b']);
  });

  it('reads the GTID and UTC time of mariadb-binlog comment lines, and nothing else', () => {
    assert.deepEqual(
      parseGtidLine('#261125  3:04:05 server id 2  end_log_pos 832 CRC32 0xd1dffaab \tGTID 0-2-57 trans'),
      { gtid: '0-2-57', time: Date.parse('2026-11-25T03:04:05Z') / 1000 },
    );
    assert.equal(parseGtidLine('# Gtid list [0-1-3]'), undefined);
    assert.equal(parseGtidLine("insert into t values ('\tGTID 0-1-1')"), undefined);
  });

  it('reaches, per domain, the last GTID applied, else the backup’s', () => {
    assert.equal(reachedState('0-1-10', []), '0-1-10');
    assert.equal(reachedState('0-1-10', ['0-1-11', '0-2-12']), '0-2-12');
    assert.equal(reachedState('0-1-10,1-1-3', ['0-1-11']), '0-1-11,1-1-3');
    assert.equal(reachedState('', []), '');
  });
});

describe('restore --at', () => {
  it('reads ISO times with a zone, plain UTC times, unix seconds and now, to the second', () => {
    const now = Date.parse('2026-11-25T03:00:00.700Z');
    const t = Date.parse('2026-11-25T03:04:05Z') / 1000;
    assert.equal(parseRestoreTime('2026-11-25T03:04:05Z', now), t);
    assert.equal(parseRestoreTime('2026-11-25T03:04:05.900Z', now), t);
    assert.equal(parseRestoreTime('2026-11-25T04:04:05+01:00', now), t);
    assert.equal(parseRestoreTime('2026-11-25 03:04:05', now), t);
    assert.equal(parseRestoreTime(String(t), now), t);
    assert.equal(parseRestoreTime('now', now), Math.floor(now / 1000));
    for (const bad of ['yesterday', '2026-11-25', '03:04:05', '2026-13-45T99:00:00Z', '12'])
      assert.equal(parseRestoreTime(bad, now), undefined, bad);
  });

  it('the second after a time, for --stop-datetime', () => {
    assert.equal(stopDatetimeAfter(Date.parse('2026-11-25T23:59:59Z') / 1000), '2026-11-26 00:00:00');
  });
});

describe('restore planning: the archive must go on from the backup', () => {
  it('refuses when the first file to replay starts past the backup (an archive begun after it)', () => {
    const m = {
      version: 1,
      id: 'b1',
      kind: 'full',
      chain: ['b1'],
      startedAt: '2026-11-25T00:00:00Z',
      endedAt: '2026-11-25T00:00:01Z',
      source: { host: 'server-2', role: 'replica', why: 'x' },
      gtid: '0-1-10',
      checkpoints: { backupType: 'full-backuped', fromLsn: '0', toLsn: '1' },
      streamBytes: 1,
      storedBytes: 1,
      sha256: 'x',
      verification: 'verified',
    } as BackupManifest;
    const later = file('server-1', 'binlog.000001', '0-1-20', '0-1-21', '0-1-30');
    const index: ArchiveIndex = { version: 1, files: [later], holes: [] };
    assert.throws(
      () => planRestore([m], index, { gtid: '0-1-25' }, { keyPresent: true }),
      (err: Error) => err instanceof RestoreRefused && /archive starts at 0-1-20.*after backup b1/.test(err.message),
    );
    const covering = file('server-1', 'binlog.000001', '0-1-5', '0-1-6', '0-1-30');
    assert.equal(
      planRestore([m], { ...index, files: [covering] }, { gtid: '0-1-25' }, { keyPresent: true }).binlogs.length,
      1,
    );
  });
});

describe('mariadb-binlog exit status', () => {
  it('a file that ends before the stop point is not a failure; anything else is', () => {
    assert.equal(
      onlyStopNotReached("WARNING: Did not reach stop datetime '2026-11-25 02:34:56' before end of input\n"),
      true,
    );
    assert.equal(onlyStopNotReached('WARNING: Did not reach stop position 0-1-5 before end of input\n'), true);
    assert.equal(onlyStopNotReached('ERROR: Error in Log_event::read_log_event(): read error\n'), false);
    assert.equal(
      onlyStopNotReached("WARNING: Did not reach stop datetime 'x' before end of input\nERROR: Could not read entry\n"),
      false,
    );
    assert.equal(onlyStopNotReached(''), false);
  });
});

describe('what an in-place restore leaves out', () => {
  it('counts the archived transactions past the point, per domain', async () => {
    const { transactionsBetween } = await import('../../src/orchestrate/restore.ts');
    assert.equal(transactionsBetween('0-1-676', '0-0-706'), 30);
    assert.equal(transactionsBetween('0-1-706', '0-0-706'), 0);
    assert.equal(transactionsBetween('0-1-10,1-2-5', '0-0-12,1-0-9'), 6);
    assert.equal(transactionsBetween('', '0-0-3'), 3);
  });
});
