/**
 * The reseed's pure parts: when a divergence is firm enough to reseed, the backup's
 * binlog info, the binlog state a restored instance takes, which files are binlogs, the
 * tools' command lines, and how `tandem status` words a reseed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reseedNote } from '../../src/cli/format.ts';
import { firewallRules } from '../../src/render/nftables.ts';
import { userStatements } from '../../src/orchestrate/database/users.ts';
import {
  backupCommand,
  backupDefaults,
  extractCommand,
  isBinlogFile,
  keptAsideDir,
  parseBinlogInfo,
  prepareCommand,
  RESEED_PORT,
  reseedDue,
  reseededBinlogState,
} from '../../src/sentinel/reseed-plan.ts';
import { rejoinVerdict } from '../../src/sentinel/decide.ts';
import { DEFAULT_LOOPBACK_HOSTS, DEFAULT_PRIMARY } from '../../src/config/defaults.ts';
import { DEFAULT_STACK, netnsPlanOf, planOf, SECRETS } from './fixtures/plans.ts';

describe('reseedDue', () => {
  const base = {
    firstSeenAt: 10_000,
    leaderKeyAt: 11_000,
    now: 12_500,
    settleMs: 2000,
    lastFailureAt: null,
    retryMs: 60_000,
  };

  it('is due once the divergence lasted settleMs and the leader rewrote its key since', () => {
    assert.equal(reseedDue(base), true);
  });
  it('waits while the divergence is younger than settleMs', () => {
    assert.equal(reseedDue({ ...base, now: 11_999 }), false);
  });
  it('waits until the leader’s key is newer than the first sighting (a stale key can look diverged)', () => {
    assert.equal(reseedDue({ ...base, leaderKeyAt: 10_000 }), false);
    assert.equal(reseedDue({ ...base, leaderKeyAt: 9_000, now: 100_000 }), false);
  });
  it('is never due without a divergence', () => {
    assert.equal(reseedDue({ ...base, firstSeenAt: null }), false);
  });
  it('waits retryMs after a failed reseed', () => {
    assert.equal(reseedDue({ ...base, lastFailureAt: 12_000 }), false);
    assert.equal(reseedDue({ ...base, lastFailureAt: 12_000, now: 72_000 }), true);
  });
});

describe('parseBinlogInfo', () => {
  it('reads file, position and GTID position', () => {
    assert.deepEqual(parseBinlogInfo('binlog.000003\t1234\t0-2-250\n'), {
      file: 'binlog.000003',
      position: 1234,
      gtid: '0-2-250',
    });
  });
  it('reads several domains, also broken over lines', () => {
    assert.equal(parseBinlogInfo('binlog.000001\t389\t0-1-5,\n1-2-7\n').gtid, '0-1-5,1-2-7');
  });
  it('accepts a donor that had written nothing (no GTID)', () => {
    assert.deepEqual(parseBinlogInfo('binlog.000001\t329\t\n'), { file: 'binlog.000001', position: 329, gtid: '' });
    assert.equal(parseBinlogInfo('binlog.000001\t329').gtid, '');
  });
  it('throws on anything else, quoting it', () => {
    assert.throws(() => parseBinlogInfo(''), /binlog info: expected/);
    assert.throws(() => parseBinlogInfo('binlog.000001 329 0-1-5'), /binlog info: expected.*binlog.000001 329/);
    assert.throws(() => parseBinlogInfo('binlog.000001\tx\t0-1-5'), /binlog info/);
    assert.throws(() => parseBinlogInfo('binlog.000001\t5\tnot-a-gtid'), /not a GTID position/);
  });
});

describe('reseededBinlogState', () => {
  it('keeps the leader’s entries up to the backup’s point and ends each domain on the backup’s GTID', () => {
    // server 1 wrote up to 49 (it diverged at 50); server 2, the primary now, up to 260; the backup is at 250.
    assert.equal(reseededBinlogState('0-1-49,0-2-260', '0-2-250'), '0-1-49,0-2-250');
  });
  it('puts the backup’s GTIDs last, whatever the order of the leader’s state', () => {
    assert.equal(reseededBinlogState('0-2-260,0-1-49', '0-2-250'), '0-1-49,0-2-250');
  });
  it('drops entries past the backup’s point and domains the backup does not have', () => {
    assert.equal(reseededBinlogState('0-1-300,0-2-260,5-3-9', '0-2-250'), '0-2-250');
  });
  it('is empty when the donor had written nothing', () => {
    assert.equal(reseededBinlogState('', ''), '');
  });
  it('lets the reseeded node pass the prefix check of a leader it later follows', () => {
    // The node diverged with 0-1-50; after the reseed its position is the backup's, held by the leader.
    const leader = '0-1-49,0-2-270';
    assert.equal(rejoinVerdict('0-1-50', leader).ok, false);
    const state = reseededBinlogState(leader, '0-2-250');
    assert.equal(rejoinVerdict('0-2-250', leader).ok, true);
    // And were it promoted later, the old primary's history (0-1-49) is a prefix of its state.
    assert.equal(rejoinVerdict('0-1-49', state).ok, true);
  });
});

describe('binlog files kept aside', () => {
  it('matches the numbered files, the index and the GTID state file of log_bin_basename, nothing else', () => {
    const base = '/state/s/hosts/server-1/mariadb/data/binlog';
    for (const name of ['binlog.000001', 'binlog.000123', 'binlog.index', 'binlog.state'])
      assert.ok(isBinlogFile(name, base), name);
    for (const name of ['relay-bin.000001', 'binlog.000001.tmp', 'ibdata1', 'xbinlog.000001', 'binlog']) {
      assert.ok(!isBinlogFile(name, base), name);
    }
  });
  it('one dated, sortable folder per reseed under the host’s folder', () => {
    assert.equal(
      keptAsideDir('/state/s/hosts/server-1/diverged', Date.UTC(2026, 10, 24, 21, 5, 7, 12), 'ab12'),
      '/state/s/hosts/server-1/diverged/2026-11-24T21-05-07-012Z-ab12',
    );
  });
});

describe('commands', () => {
  it('the donor streams an mbstream backup with its own defaults file', () => {
    assert.deepEqual(backupCommand('/w/backup.cnf', '/w/target'), [
      '/usr/bin/mariadb-backup',
      '--defaults-file=/w/backup.cnf',
      '--backup',
      '--stream=mbstream',
      '--target-dir=/w/target',
    ]);
  });
  it('the receiver unpacks, then prepares reading no option file', () => {
    assert.deepEqual(extractCommand('/w/data'), ['/usr/bin/mbstream', '-x', '-C', '/w/data']);
    assert.deepEqual(prepareCommand('/w/data'), [
      '/usr/bin/mariadb-backup',
      '--no-defaults',
      '--prepare',
      '--target-dir=/w/data',
    ]);
  });
  it('the credentials go into the defaults file, after the server’s options', () => {
    assert.equal(
      backupDefaults('[mariadbd]\ndatadir = /d\n\n', 'tandem_backup', 'pw'),
      '[mariadbd]\ndatadir = /d\n\n[mariadb-backup]\nuser = tandem_backup\npassword = pw\n',
    );
    assert.throws(() => backupDefaults('', 'u', 'a\nb'), /one line each/);
  });
});

describe('the stack around it', () => {
  it('the backup user: over the socket only, least privilege, created under failover or with a backup host, by its hash', () => {
    const statements = userStatements(planOf(DEFAULT_STACK), SECRETS).filter((s) => s.includes('tandem_backup'));
    assert.equal(statements.length, 2);
    assert.match(
      statements[0]!,
      /^CREATE USER IF NOT EXISTS 'tandem_backup'@'localhost' IDENTIFIED BY PASSWORD '\*[0-9A-F]{40}'$/,
    );
    assert.equal(
      statements[1],
      "GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'tandem_backup'@'localhost'",
    );
    assert.ok(!statements.join('\n').includes(SECRETS.dbBackupPassword));
    // The default design's monitor host keeps backups: its sources use the same user.
    assert.equal(userStatements(planOf({}), SECRETS).filter((s) => s.includes('tandem_backup')).length, 2);
    const unbacked = {
      database: { primary: DEFAULT_PRIMARY },
      hosts: DEFAULT_LOOPBACK_HOSTS.filter((h) => !h.roles.includes('monitor')).map((h) => ({
        ...h,
        roles: [...h.roles],
      })),
    };
    assert.deepEqual(
      userStatements(planOf(unbacked), SECRETS).filter((s) => s.includes('tandem_backup')),
      [],
    );
  });
  it('each db host opens the reseed port to the other db hosts only, under failover', () => {
    const p = netnsPlanOf(DEFAULT_STACK);
    const rule = firewallRules(p, 'server-1').find((r) => r.ports.includes(RESEED_PORT));
    assert.deepEqual(rule, {
      comment: 'db: reseed stream between database hosts',
      protocol: 'tcp',
      ports: [RESEED_PORT],
      from: [p.hosts.find((h) => h.name === 'server-2')!.address],
    });
    assert.equal(
      firewallRules(netnsPlanOf({}), 'server-1').some((r) => r.ports.includes(RESEED_PORT)),
      false,
    );
  });
  it('status words a reseed: done with its folder, failed with why, or under way', () => {
    const r = { id: 'ab', from: 'server-2', reason: 'x', startedAt: Date.UTC(2026, 10, 24, 21, 0, 0) };
    assert.equal(
      reseedNote({ ...r, state: 'done', ms: 5123, gtid: '0-2-250', keptAside: '/k/1' }),
      'reseeded from server-2 at 2026-11-24T21:00:00.000Z in 5123 ms (GTID 0-2-250); diverged binlogs kept in /k/1',
    );
    assert.equal(
      reseedNote({ ...r, state: 'failed', error: 'the reseed took longer than 300 s' }),
      'RESEED FAILED at 2026-11-24T21:00:00.000Z (from server-2): the reseed took longer than 300 s; read-only and out of service',
    );
    assert.equal(
      reseedNote({ ...r, state: 'receiving' }),
      'reseeding from server-2 since 2026-11-24T21:00:00.000Z: receiving',
    );
  });
});
