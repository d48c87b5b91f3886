/**
 * The pure parts of backups (issue 10): mariadb-backup's files, which database a backup
 * comes from, which chain an incremental builds on, what retention deletes, what the
 * drill calls a difference, the request signature, and the scratch server's command.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderAgentMetrics } from '../../src/backup/agent.ts';
import { backupToken, signRequest, verifyRequest } from '../../src/backup/auth.ts';
import { scratchServerCommand } from '../../src/backup/drill.ts';
import {
  type BackupManifest,
  backupId,
  chooseSource,
  expiredBackups,
  gtidOfBackupInfo,
  incrementalBase,
  parseCheckpoints,
  scheduledKind,
  type SourceState,
  tableMismatches,
} from '../../src/backup/manifest.ts';
import { backupLine } from '../../src/cli/format.ts';
import { parseCommandLine } from '../../src/cli/args.ts';

describe("mariadb-backup's files", () => {
  it('parses xtrabackup_checkpoints into the LSNs an incremental needs', () => {
    const text =
      'backup_type = incremental\nfrom_lsn = 45012\nto_lsn = 61833\nlast_lsn = 61833\nrecover_binlog_info = 0\n';
    assert.deepEqual(parseCheckpoints(text), { backupType: 'incremental', fromLsn: '45012', toLsn: '61833' });
  });
  it('names what is missing or wrong in xtrabackup_checkpoints', () => {
    assert.throws(() => parseCheckpoints('backup_type = full-backuped\nfrom_lsn = 0\n'), /no to_lsn/);
    assert.throws(() => parseCheckpoints('backup_type = x\nfrom_lsn = 0\nto_lsn = abc\n'), /to_lsn is not an LSN/);
  });
  it("reads the backup's GTID from xtrabackup_info, '' when nothing was binlogged", () => {
    const info =
      "uuid = 1\nbinlog_pos = filename 'binlog.000002', position '1234', GTID of the last change '0-2-36,1-3-4'\n";
    assert.equal(gtidOfBackupInfo(info), '0-2-36,1-3-4');
    assert.equal(gtidOfBackupInfo('uuid = 1\n'), '');
  });
  it('ids sort by time and say the kind', () => {
    assert.equal(backupId(new Date('2026-11-24T23:45:00.123Z'), 'full'), '20261124T234500Z-full');
    assert.ok(
      backupId(new Date('2026-11-24T23:45:00Z'), 'incremental') < backupId(new Date('2026-11-24T23:46:00Z'), 'full'),
    );
  });
});

describe('chooseSource', () => {
  const primary: SourceState = { host: 'server-2', writable: true, replica: null };
  const replica = (host: string, lagS: number | null, running = true): SourceState => ({
    host,
    writable: false,
    replica: { ioRunning: running, sqlRunning: running, lagS },
  });

  it('takes a healthy replica, the least lagging one, never the primary then', () => {
    assert.deepEqual(chooseSource([primary, replica('server-1', 3), replica('server-3', 0)], [], 10), {
      host: 'server-3',
      role: 'replica',
      why: 'replica, 0 s behind',
    });
  });
  it('falls back to the primary, saying why, when no replica is healthy', () => {
    const c = chooseSource(
      [primary, replica('server-1', 30), replica('server-3', null, false)],
      [{ host: 'server-4', error: 'ECONNREFUSED' }],
      10,
    );
    assert.equal('host' in c && c.host, 'server-2');
    assert.equal('role' in c && c.role, 'primary');
    assert.match(
      'why' in c ? c.why : '',
      /^no healthy replica \(server-1 lags 30 s \(more than 10 s\); server-3's replication is stopped; server-4: ECONNREFUSED\): loading the primary$/,
    );
  });
  it('refuses with two writable databases or none', () => {
    assert.match(
      (chooseSource([primary, { ...primary, host: 'server-1' }], [], 10) as { error: string }).error,
      /both writable/,
    );
    assert.match(
      (chooseSource([], [{ host: 'server-1', error: 'timeout' }], 10) as { error: string }).error,
      /no database to back up from: server-1: timeout/,
    );
  });
});

function manifest(
  id: string,
  kind: BackupManifest['kind'],
  verification: BackupManifest['verification'],
  base?: string,
) {
  return { id, kind, verification, ...(base ? { base } : {}) } as BackupManifest;
}

describe('incrementalBase', () => {
  const all = [
    manifest('01-full', 'full', 'verified'),
    manifest('02-incremental', 'incremental', 'verified', '01-full'),
    manifest('03-full', 'full', 'verified'),
    manifest('04-incremental', 'incremental', 'verified', '03-full'),
    manifest('05-incremental', 'incremental', 'failed', '04-incremental'),
    manifest('06-full', 'full', 'failed'),
  ];
  it('is the newest verified full backup and its verified incrementals, in order', () => {
    assert.deepEqual(
      incrementalBase(all, () => true)?.map((m) => m.id),
      ['03-full', '04-incremental'],
    );
  });
  it('skips a backup whose file fails its checksum: an older intact chain, or none', () => {
    assert.deepEqual(
      incrementalBase(all, (m) => m.id !== '03-full')?.map((m) => m.id),
      ['01-full', '02-incremental'],
    );
    assert.deepEqual(
      incrementalBase(all, (m) => m.id !== '04-incremental')?.map((m) => m.id),
      ['03-full'],
    );
    assert.equal(
      incrementalBase(all, (m) => m.kind !== 'full'),
      null,
    );
  });
});

describe('expiredBackups', () => {
  const all = [
    manifest('01-full', 'full', 'verified'),
    manifest('02-incremental', 'incremental', 'verified', '01-full'),
    manifest('03-full', 'full', 'verified'),
    manifest('04-incremental', 'incremental', 'verified', '03-full'),
    manifest('05-full', 'full', 'pending'),
  ];
  it('keeps keepFull verified full backups with their incrementals, deletes what is older', () => {
    assert.deepEqual(expiredBackups(all, 1), ['01-full', '02-incremental']);
  });
  it('deletes nothing until enough newer full backups are verified', () => {
    assert.deepEqual(expiredBackups(all, 2), []);
    assert.deepEqual(expiredBackups(all.slice(0, 2), 1), []);
  });
});

describe('tableMismatches', () => {
  const source = { a: { rows: 2, checksum: '11' }, b: { rows: 5, checksum: '22' } };
  it('at the GTID: every count and checksum must match', () => {
    assert.deepEqual(tableMismatches(source, source, 'at-gtid'), []);
    assert.deepEqual(tableMismatches(source, { ...source, b: { rows: 4, checksum: '21' } }, 'at-gtid'), [
      'b: source 5 rows, checksum 22; backup 4 rows, checksum 21',
    ]);
  });
  it('tables only (a primary source): the table lists must match', () => {
    assert.deepEqual(tableMismatches(source, { ...source, b: { rows: 4, checksum: '21' } }, 'tables-only'), []);
    assert.deepEqual(tableMismatches(source, { a: source.a, c: source.a }, 'tables-only'), [
      'b: in the source, not in the backup',
      'c: in the backup, not in the source',
    ]);
  });
});

describe('request signatures', () => {
  const token = backupToken('secret-1');
  it('verifies its own signature within a minute, for that method and path only', () => {
    const now = 1_800_000_000_000;
    const h = signRequest(token, 'POST', '/backup?id=x', now);
    assert.equal(verifyRequest(token, h, 'POST', '/backup?id=x', now + 59_000), true);
    assert.equal(verifyRequest(token, h, 'POST', '/backup?id=x', now + 61_000), false);
    assert.equal(verifyRequest(token, h, 'GET', '/backup?id=x', now), false);
    assert.equal(verifyRequest(token, h, 'POST', '/backup?id=y', now), false);
    assert.equal(verifyRequest(backupToken('secret-2'), h, 'POST', '/backup?id=x', now), false);
    assert.equal(verifyRequest(token, undefined, 'POST', '/backup?id=x', now), false);
  });
  it('the token is not the key', () => {
    assert.notEqual(token, 'secret-1');
    assert.match(token, /^[0-9a-f]{64}$/);
  });
});

describe('the drill and status', () => {
  it('the scratch server: no options file, socket only, no grants, its own folders', () => {
    assert.deepEqual(scratchServerCommand('/d/data', '/tmp/r'), [
      '/usr/sbin/mariadbd',
      '--no-defaults',
      '--datadir=/d/data',
      '--socket=/tmp/r/mysqld.sock',
      '--pid-file=/tmp/r/mysqld.pid',
      '--log-error=/tmp/r/error.log',
      '--skip-networking',
      '--skip-grant-tables',
      '--skip-slave-start',
      '--user=root',
      '--innodb-buffer-pool-size=64M',
    ]);
  });
  it('status says when nothing backs the stack up, and a failed drill with its reason', () => {
    assert.match(backupLine(null), /nothing backs this stack up/);
    const failed = {
      ...manifest('02-full', 'full', 'failed'),
      failure: 'the drill failed: x',
      source: { host: 'server-1', role: 'replica' as const, why: '' },
      gtid: '0-2-9',
    };
    assert.equal(
      backupLine({ host: 'monitor', count: 2, last: failed, lastVerified: manifest('01-full', 'full', 'verified') }),
      'backups: on monitor, 2 stored; last 02-full (full from server-1, GTID 0-2-9) FAILED: the drill failed: x; last verified 01-full',
    );
  });
});

describe('the backup commands', () => {
  it('backup takes --full or --incremental, not both; backups takes --check', () => {
    assert.equal(parseCommandLine(['backup', '--incremental', '--json']).incremental, true);
    assert.equal(parseCommandLine(['backup', '--full']).incremental, undefined);
    assert.throws(() => parseCommandLine(['backup', '--full', '--incremental']), /exclude each other/);
    assert.equal(parseCommandLine(['backups', '--check']).check, true);
    assert.throws(() => parseCommandLine(['backups', '--incremental']), /backups takes no option --incremental/);
  });
});

describe('scheduledKind', () => {
  const at = (id: string, kind: BackupManifest['kind'], verification: BackupManifest['verification'], iso: string) =>
    ({ ...manifest(id, kind, verification), startedAt: iso }) as BackupManifest;
  const t = (iso: string) => Date.parse(iso);
  const HOUR = 3600;
  it('waits an incremental period after the agent started when there is no backup, then takes a full one', () => {
    assert.equal(scheduledKind([], t('2026-11-25T00:30:00Z'), t('2026-11-25T00:00:00Z'), 24 * HOUR, HOUR), null);
    assert.equal(scheduledKind([], t('2026-11-25T01:00:00Z'), t('2026-11-25T00:00:00Z'), 24 * HOUR, HOUR), 'full');
  });
  it('takes an incremental each period on a fresh verified full, a full once it is too old', () => {
    const full = at('a-full', 'full', 'verified', '2026-11-25T00:00:00Z');
    assert.equal(scheduledKind([full], t('2026-11-25T00:59:00Z'), 0, 24 * HOUR, HOUR), null);
    assert.equal(scheduledKind([full], t('2026-11-25T01:00:00Z'), 0, 24 * HOUR, HOUR), 'incremental');
    assert.equal(scheduledKind([full], t('2026-11-26T00:00:00Z'), 0, 24 * HOUR, HOUR), 'full');
  });
  it('after a failed full: retries a full, at the incremental pace', () => {
    const failed = at('b-full', 'full', 'failed', '2026-11-25T00:00:00Z');
    assert.equal(scheduledKind([failed], t('2026-11-25T00:10:00Z'), 0, 24 * HOUR, HOUR), null);
    assert.equal(scheduledKind([failed], t('2026-11-25T01:00:00Z'), 0, 24 * HOUR, HOUR), 'full');
  });
});

describe("the agent's metrics", () => {
  it('say when the newest verified backup was taken, how many failed, and whether the newest failed', () => {
    const list = [
      { ...manifest('01-full', 'full', 'verified'), startedAt: '2026-11-25T00:00:00Z' },
      { ...manifest('02-incremental', 'incremental', 'failed'), startedAt: '2026-11-25T01:00:00Z' },
    ] as BackupManifest[];
    const text = renderAgentMetrics(list, false);
    assert.match(text, /^tandem_backup_last_verified_timestamp_seconds 1795564800$/m);
    assert.match(text, /^tandem_backup_last_timestamp_seconds 1795568400$/m);
    assert.match(text, /^tandem_backup_failed 1$/m);
    assert.match(text, /^tandem_backup_last_failed 1$/m);
    assert.match(text, /^tandem_backup_running 0$/m);
    assert.match(renderAgentMetrics([], true), /^tandem_backup_last_verified_timestamp_seconds 0$/m);
    assert.match(
      renderAgentMetrics([], true, 1795564800),
      /^tandem_backup_agent_started_timestamp_seconds 1795564800$/m,
    );
  });
});
