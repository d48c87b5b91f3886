/**
 * The binlog archive's pure parts: reading GTIDs from binlog bytes, the index, where to
 * resume streaming, hole detection, the option file and the mariadb-binlog command.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ArchivedFile,
  type ArchiveIndex,
  archivePosition,
  checkNext,
  checkStart,
  EMPTY_INDEX,
  filesUpTo,
  formatPosition,
  isDivergent,
  pickStartFile,
  seqKey,
  upsertFile,
} from '../../src/backup/archive-index.ts';
import {
  archiveStreamCommand,
  type ArchiverConfig,
  binlogOf,
  parseArchiverOptionFile,
  renderArchiverOptionFile,
} from '../../src/backup/archiver-config.ts';
import { renderArchiverMetrics } from '../../src/backup/archiver-state.ts';
import { BinlogFormatError, scanBinlog } from '../../src/backup/binlog-scan.ts';
import { userStatements } from '../../src/orchestrate/database/users.ts';
import { netnsPlanOf, SECRETS } from './fixtures/plans.ts';

/** One binlog event: the 19-byte header, then `body`. */
function event(type: number, body: Buffer, time = 1000, server = 2): Buffer {
  const header = Buffer.alloc(19);
  header.writeUInt32LE(time, 0);
  header[4] = type;
  header.writeUInt32LE(server, 5);
  header.writeUInt32LE(19 + body.length, 9);
  return Buffer.concat([header, body]);
}

function gtidEvent(seq: number, flags = 0, time = 1000): Buffer {
  const body = Buffer.alloc(13);
  body.writeBigUInt64LE(BigInt(seq), 0);
  body.writeUInt32LE(0, 8);
  body[12] = flags;
  return event(162, body, time);
}

function gtidList(entries: [number, number, number][]): Buffer {
  const body = Buffer.alloc(4 + 16 * entries.length);
  body.writeUInt32LE(entries.length, 0);
  entries.forEach(([d, s, q], i) => {
    body.writeUInt32LE(d, 4 + 16 * i);
    body.writeUInt32LE(s, 8 + 16 * i);
    body.writeBigUInt64LE(BigInt(q), 12 + 16 * i);
  });
  return event(163, body);
}

const MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
const xid = (time = 1000) => event(16, Buffer.alloc(8), time);
const query = (text: string, time = 1000) => event(2, Buffer.concat([Buffer.alloc(13), Buffer.from(text)]), time);

describe('scanBinlog', () => {
  const file = Buffer.concat([
    MAGIC,
    event(15, Buffer.alloc(40)),
    gtidList([[0, 1, 10]]),
    gtidEvent(11, 0, 1001),
    query('BEGIN'),
    xid(1001),
    // A DDL: standalone, its query is its commit.
    gtidEvent(12, 1, 1002),
    query('CREATE TABLE t (i INT)', 1002),
  ]);

  it("reads the file's start state and its first and last transactions with their times", () => {
    const scan = scanBinlog(file);
    assert.equal(scan.offset, file.length);
    assert.equal(scan.gtidList, '0-1-10');
    assert.deepEqual([scan.firstGtid, scan.lastGtid, scan.firstTime, scan.lastTime], ['0-2-11', '0-2-12', 1001, 1002]);
    assert.deepEqual(scan.gtids, ['0-2-11', '0-2-12']);
    assert.equal(scan.rotated, false);
  });

  it('leaves a partial event for the next scan, and a transaction open until its commit arrives', () => {
    const more = Buffer.concat([gtidEvent(13, 0, 1003), query('BEGIN'), xid(1003), event(4, Buffer.alloc(20))]);
    const all = Buffer.concat([file, more]);
    const cut = file.length + 40;
    const first = scanBinlog(all.subarray(0, cut));
    assert.equal(first.open?.gtid, '0-2-13');
    assert.equal(first.lastGtid, '0-2-12');
    assert.ok(first.offset < cut);
    const second = scanBinlog(all.subarray(first.offset), first);
    assert.equal(second.offset, all.length);
    assert.deepEqual(second.gtids, ['0-2-13']);
    assert.equal(second.lastGtid, '0-2-13');
    assert.equal(second.rotated, true);
  });

  it('refuses what is not a binlog', () => {
    assert.throws(() => scanBinlog(Buffer.from('not a binlog at all')), BinlogFormatError);
  });
});

const file = (
  host: string,
  name: string,
  gtidList: string,
  lastGtid?: string,
  times?: [number, number],
): ArchivedFile => ({
  host,
  name,
  binlog: name,
  startPos: 4,
  file: `${host}/${name}`,
  encrypted: false,
  size: 100,
  rotated: false,
  gtidList,
  ...(lastGtid ? { lastGtid, firstGtid: lastGtid } : {}),
  ...(times ? { firstTime: times[0], lastTime: times[1] } : {}),
});

describe('the archive index', () => {
  const index: ArchiveIndex = {
    ...EMPTY_INDEX,
    files: [
      file('server-2', 'binlog.000001', '', '0-2-10', [100, 200]),
      file('server-2', 'binlog.000002', '0-2-10', '0-2-20', [200, 300]),
    ],
  };

  it("has the archive's position: the highest sequence per domain", () => {
    assert.equal(formatPosition(archivePosition(index)), '0-0-20');
    assert.equal(formatPosition(archivePosition(EMPTY_INDEX)), '');
  });

  it('replaces a file fetched again, and appends a new one', () => {
    const again = upsertFile(index, file('server-2', 'binlog.000002', '0-2-10', '0-2-25'));
    assert.equal(again.files.length, 2);
    assert.equal(again.files[1]!.lastGtid, '0-2-25');
    assert.equal(upsertFile(index, file('server-1', 'binlog.000002', '0-2-20')).files.length, 3);
  });

  it('picks the files a replay to a GTID or a time needs', () => {
    assert.deepEqual(
      filesUpTo(index, { gtid: '0-2-5' }).map((f) => f.name),
      ['binlog.000001'],
    );
    assert.deepEqual(
      filesUpTo(index, { gtid: '0-2-15' }).map((f) => f.name),
      ['binlog.000001', 'binlog.000002'],
    );
    assert.deepEqual(
      filesUpTo(index, { time: 150 }).map((f) => f.name),
      ['binlog.000001'],
    );
  });
});

describe('pickStartFile', () => {
  const archived: ArchiveIndex = { ...EMPTY_INDEX, files: [file('server-2', 'binlog.000004', '0-2-30', '0-2-41')] };

  it('starts an empty archive at the oldest binlog', () => {
    const c = pickStartFile(EMPTY_INDEX, 'server-2', [
      { name: 'binlog.000003', gtidList: '0-2-9' },
      { name: 'binlog.000004', gtidList: '0-2-30' },
    ]);
    assert.equal(c.name, 'binlog.000003');
    assert.equal(c.hole, undefined);
  });

  it("resumes the same host's last archived file, fetched again whole", () => {
    const c = pickStartFile(archived, 'server-2', [
      { name: 'binlog.000004', gtidList: '0-2-30' },
      { name: 'binlog.000005', gtidList: '0-2-45' },
    ]);
    assert.deepEqual([c.name, c.startPos], ['binlog.000004', 4]);
    // A sealed file's next segment resumes at its own position.
    const segment = { ...file('server-2', 's1199-binlog.000004', ''), binlog: 'binlog.000004', startPos: 1199 };
    const again = pickStartFile({ ...archived, files: [...archived.files, segment] }, 'server-2', [
      { name: 'binlog.000004', gtidList: '0-2-30' },
    ]);
    assert.deepEqual([again.name, again.startPos], ['binlog.000004', 1199]);
  });

  it('on a new primary, the last file whose start the archive covers: it holds the first missing GTID', () => {
    // server-1 replicated 0-2-1..41 and more under the same GTIDs (log_slave_updates).
    const c = pickStartFile(archived, 'server-1', [
      { name: 'binlog.000001', gtidList: '' },
      { name: 'binlog.000002', gtidList: '0-2-35' },
      { name: 'binlog.000003', gtidList: '0-2-44' },
    ]);
    assert.equal(c.name, 'binlog.000002');
    assert.equal(c.hole, undefined);
  });

  it('reports a hole when every file of the new primary starts past the archive', () => {
    const c = pickStartFile(archived, 'server-1', [{ name: 'binlog.000009', gtidList: '0-1-50' }]);
    assert.equal(c.name, 'binlog.000009');
    assert.deepEqual(c.hole, { have: '0-0-41', next: '0-1-50' });
  });
});

describe('hole detection', () => {
  const pos = new Map([[0, 41n]]);

  it('the next sequence number and one already held are not holes; a jump is', () => {
    assert.equal(checkNext(pos, '0-1-42').hole, undefined);
    assert.equal(checkNext(pos, '0-2-40').hole, undefined);
    assert.equal(checkNext(pos, '0-2-40').pos.get(0), 41n);
    assert.deepEqual(checkNext(pos, '0-1-44').hole, { have: '0-0-41', next: '0-1-44' });
    // A domain the archive never saw starts anywhere.
    assert.equal(checkNext(pos, '1-1-7').hole, undefined);
  });

  it('a new primary numbering its own transaction with a sequence number the archive holds from the old one diverged', () => {
    const recent = new Map([
      [seqKey('0-2-41'), '0-2-41'],
      [seqKey('0-2-42'), '0-2-42'],
    ]);
    assert.equal(isDivergent(recent, '0-2-41'), false, 'a repeat');
    assert.equal(isDivergent(recent, '0-1-43'), false, 'a new transaction');
    assert.equal(isDivergent(recent, '0-1-42'), true, "0-2-42 was the old primary's alone");
  });

  it("a file starting past the archive's position is a hole; one starting within it is not", () => {
    assert.equal(checkStart(pos, '0-2-41'), undefined);
    assert.equal(checkStart(new Map(), '0-2-90'), undefined);
    assert.deepEqual(checkStart(pos, '0-2-45'), { have: '0-0-41', next: '0-2-45' });
  });
});

describe("the archiver's option file, command and user", () => {
  const config: ArchiverConfig = {
    archiveDir: '/s/hosts/monitor/binlogs',
    nodes: [],
    defaultsFile: '/s/hosts/monitor/binlog-archiver/archive.cnf',
    keyFile: '/k',
    serverId: 4001,
    stateFile: '/st',
    streamPidFile: '/p',
    listen: { address: '10.77.0.15', port: 9098 },
    tickMs: 200,
    sealEveryS: 60,
  };

  it('keeps the password in the option file, never on the command line', () => {
    const text = renderArchiverOptionFile('tandem_archive', 'pw-secret_1');
    assert.equal(text, '[client]\nuser = tandem_archive\npassword = pw-secret_1\n');
    assert.deepEqual(parseArchiverOptionFile(text), { user: 'tandem_archive', password: 'pw-secret_1' });
    assert.throws(() => renderArchiverOptionFile('tandem_archive', 'a b'));
    const argv = archiveStreamCommand(config, { host: 'server-2', address: '10.77.0.14', port: 3306 }, 'binlog.000004');
    assert.deepEqual(argv, [
      'mariadb-binlog',
      '--defaults-extra-file=/s/hosts/monitor/binlog-archiver/archive.cnf',
      '--read-from-remote-server',
      '--host=10.77.0.14',
      '--port=3306',
      '--raw',
      '--stop-never',
      '--stop-never-slave-server-id=4001',
      '--result-file=/s/hosts/monitor/binlogs/server-2/',
      'binlog.000004',
    ]);
  });

  it('streams a segment after a sealed one from its position, under its own prefix', () => {
    const argv = archiveStreamCommand(
      config,
      { host: 'server-2', address: '10.77.0.14', port: 3306 },
      'binlog.000004',
      1199,
    );
    assert.deepEqual(argv.slice(-3), [
      '--start-position=1199',
      '--result-file=/s/hosts/monitor/binlogs/server-2/s1199-',
      'binlog.000004',
    ]);
    assert.equal(binlogOf('s1199-binlog.000004'), 'binlog.000004');
    assert.equal(binlogOf('binlog.000004'), 'binlog.000004');
  });

  it('the archive user gets REPLICATION SLAVE and BINLOG MONITOR, from the backup host only', () => {
    const plan = netnsPlanOf({});
    const mine = userStatements(plan, SECRETS).filter((s) => s.includes('tandem_archive'));
    assert.ok(plan.backup);
    assert.deepEqual(
      mine.filter((s) => s.startsWith('GRANT')),
      [`GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'tandem_archive'@'${plan.backup.address}'`],
    );
    assert.ok(!mine.join('\n').includes(SECRETS.dbArchivePassword), 'the statement holds the hash, not the password');
  });

  it('reports its lag and state as metrics', () => {
    const text = renderArchiverMetrics(
      {
        following: 'server-2',
        streaming: true,
        primary: 'server-2',
        archivedGtid: '0-0-41',
        lastGtid: '0-2-41',
        primaryGtid: '0-2-43',
        behindTransactions: 2,
        lagSeconds: 0.4,
        holes: 0,
        divergences: 0,
        liveFile: { file: 'server-2/binlog.000004', bytes: 1000, sinceMs: 1000 },
        files: 3,
        encryptedFiles: 2,
        lastError: null,
        updatedAt: 2000,
      },
      3000,
    );
    assert.match(text, /^tandem_archive_streaming 1$/m);
    assert.match(text, /^tandem_archive_following\{primary="server-2"\} 1$/m);
    assert.match(text, /^tandem_archive_lag_seconds 0.4$/m);
    assert.match(text, /^tandem_archive_behind_transactions 2$/m);
    assert.match(text, /^tandem_archive_plaintext_age_seconds 2$/m);
  });
});
