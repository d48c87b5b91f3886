/** `tandem logs`' pure parts: line times of every engine's format, merge, --since, selection errors. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import { TandemError } from '../../src/errors.ts';
import { type LogEntry, lineTime, mergeByTime, parseSince, timedLines } from '../../src/orchestrate/log-lines.ts';
import { selectServices, showLogs } from '../../src/orchestrate/logs.ts';
import { DEFAULT_STACK, planOf, removeTempDirs } from './fixtures/plans.ts';

after(removeTempDirs);

const local = (...a: [number, number, number, number, number, number, number?]) =>
  new Date(a[0], a[1] - 1, a[2], a[3], a[4], a[5], a[6] ?? 0).getTime();

describe('lineTime', () => {
  it('reads the stamp of each engine the way it writes it', () => {
    const utc = Date.UTC(2026, 10, 24, 17, 4, 25, 123);
    const cases: [string, number][] = [
      // HAProxy (`log stdout format iso`) and the supervisor's own lines.
      ['2026-11-24T17:04:25.123456+00:00 7F000001:9DAE_7F000001 127.0.0.1:40366 [24/Nov/2026:17:04:25.120] www', utc],
      ['2026-11-24T17:04:25.123Z [tandem-supervise] lb-1/haproxy exited', utc],
      // The app (pino: epoch ms) and nginx's access log (`$msec`: epoch seconds).
      ['{"level":30,"time":1795539865123,"reqId":"abc","msg":"request"}', 1795539865123],
      ['{"time":1795539865.123,"reqId":"abc","status":200}', 1795539865123],
      // etcd (zap) and Prometheus (logfmt).
      ['{"level":"info","ts":"2026-11-24T17:04:25.123Z","msg":"ready"}', utc],
      ['ts=2026-11-24T17:04:25.123Z caller=main.go:1 level=info', utc],
      // Local wall-clock times: nginx's error log, MariaDB, dnsmasq, ctime.
      ['2026/11/24 17:04:25 [warn] 1#1: something', local(2026, 11, 24, 17, 4, 25)],
      ['2026-11-24 17:04:25 0 [Note] mariadbd: ready', local(2026, 11, 24, 17, 4, 25)],
      ['Nov 24 17:04:25 dnsmasq[42]: started', local(2026, 11, 24, 17, 4, 25)],
      ['Tue Nov 24 17:04:25 2026: Starting VRRP child', local(2026, 11, 24, 17, 4, 25)],
    ];
    for (const [line, want] of cases) assert.equal(lineTime(line, new Date(2026, 10, 25)), want, line);
  });

  it('finds no time in a line without a stamp', () => {
    for (const line of ['[NOTICE]   (30190) : New worker (30202) forked', '    at foo (bar.js:1)', '', '{"msg":1}']) {
      assert.equal(lineTime(line), undefined, line);
    }
  });
});

describe('timedLines and mergeByTime', () => {
  it('GIVEN lines without a stamp THEN each takes the time of the line before it (the next one at the start)', () => {
    const lines = ['banner', '2026-11-24T17:00:01Z a', 'continued', '2026-11-24T17:00:03Z b'];
    const got = timedLines(lines, { service: 'lb-1/haproxy', file: 'output.log' }, 0);
    const t = (s: number) => Date.UTC(2026, 10, 24, 17, 0, s);
    assert.deepEqual(
      got.map((e) => e.time),
      [t(1), t(1), t(1), t(3)],
    );
    assert.deepEqual(
      timedLines(['no', 'stamps'], { service: 's', file: 'f' }, 42).map((e) => e.time),
      [42, 42],
    );
  });

  it('merges several files in time order, keeping one file’s order for equal times', () => {
    const lb = timedLines(
      ['2026-11-24T17:00:01Z lb first', '2026-11-24T17:00:04Z lb last'],
      { service: 'lb-1/haproxy', file: 'output.log' },
      0,
    );
    const app = timedLines(
      ['{"time":1795539602000,"msg":"app 1"}', '{"time":1795539602000,"msg":"app 2"}'],
      { service: 'server-1/app', file: 'output.log' },
      0,
    );
    const merged = mergeByTime([lb, app]).map((e) => e.text);
    assert.deepEqual(merged, [
      '2026-11-24T17:00:01Z lb first',
      '{"time":1795539602000,"msg":"app 1"}',
      '{"time":1795539602000,"msg":"app 2"}',
      '2026-11-24T17:00:04Z lb last',
    ]);
  });
});

describe('parseSince', () => {
  it('reads a duration back from now, or a time', () => {
    const now = Date.UTC(2026, 10, 24, 18, 0, 0);
    assert.equal(parseSince('90s', now), now - 90_000);
    assert.equal(parseSince('10m', now), now - 600_000);
    assert.equal(parseSince('2h', now), now - 7_200_000);
    assert.equal(parseSince('1d', now), now - 86_400_000);
    assert.equal(parseSince('2026-11-24T17:00:00Z', now), Date.UTC(2026, 10, 24, 17));
  });

  it('names a value that is neither', () => {
    assert.throws(
      () => parseSince('yesterday-ish', 0),
      (err) => err instanceof TandemError && err.message === '--since yesterday-ish: neither a duration nor a time',
    );
  });
});

describe('selectServices', () => {
  const plan = planOf(DEFAULT_STACK);

  it('selects everything, a host, or one service of a host', () => {
    assert.equal(selectServices(plan, undefined).length, plan.services.length);
    const server = selectServices(plan, 'server-1');
    assert.ok(server.length >= 2);
    assert.ok(server.every((s) => s.host === 'server-1'));
    assert.deepEqual(
      selectServices(plan, 'server-1/nginx').map((s) => s.id),
      ['server-1/nginx'],
    );
  });

  it('names an unknown host or service, and lists what there is', () => {
    const failure = (selector: string) => {
      try {
        selectServices(plan, selector);
      } catch (err) {
        assert.ok(err instanceof TandemError);
        return `${err.message} | ${err.hint}`;
      }
      assert.fail(`${selector} was accepted`);
    };
    assert.match(failure('nosuch'), /^logs: no host 'nosuch' in stack \S+ \| name a host.*server-1/);
    assert.match(failure('nosuch/app'), /no host 'nosuch'/);
    assert.match(failure('server-1/redis'), /^logs: host server-1 runs no service 'redis' \| its services: .*nginx/);
    assert.match(failure('server-1/app/x'), /^logs: 'server-1\/app\/x' is neither HOST nor HOST\/SERVICE/);
  });
});

describe('showLogs on files', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('reads rotated files first, then follows the current one through a truncation and a rename', async () => {
    const plan = planOf(DEFAULT_STACK);
    const service = plan.services.find((s) => s.id === 'lb-1/haproxy')!;
    const { dir, output } = servicePaths(service);
    fs.mkdirSync(dir, { recursive: true });
    const stamp = (s: number, text: string) => `2026-11-24T17:00:${String(s).padStart(2, '0')}Z ${text}\n`;
    fs.writeFileSync(`${output}.2`, stamp(1, 'oldest'));
    fs.writeFileSync(`${output}.1`, stamp(2, 'older'));
    fs.writeFileSync(output, stamp(3, 'current'));

    const seen: LogEntry[][] = [];
    const stop = new AbortController();
    const following = showLogs(plan, {
      selector: 'lb-1/haproxy',
      follow: true,
      signal: stop.signal,
      pollMs: 20,
      write: (entries) => seen.push([...entries]),
    });
    const texts = () => seen.flat().map((e) => e.text.replace(/^\S+ /, ''));
    const until = async (text: string) => {
      for (let i = 0; i < 100 && !texts().includes(text); i++) await sleep(20);
    };
    await until('current');
    fs.appendFileSync(output, stamp(4, 'appended'));
    await until('appended');
    // Copied and truncated in place, then written again.
    fs.truncateSync(output, 0);
    fs.appendFileSync(output, stamp(5, 'after truncation'));
    await until('after truncation');
    // Renamed away, then a new file: the old one is read to its end first.
    fs.appendFileSync(output, stamp(6, 'last of the old file'));
    fs.renameSync(output, `${output}.1`);
    fs.writeFileSync(output, stamp(7, 'new file'));
    await until('new file');
    stop.abort();
    await following;

    assert.deepEqual(texts(), [
      'oldest',
      'older',
      'current',
      'appended',
      'after truncation',
      'last of the old file',
      'new file',
    ]);
    assert.ok(seen.flat().every((e) => e.service === 'lb-1/haproxy' && e.file === 'output.log'));
  });

  it('GIVEN --since THEN only lines from then on, rotated files included', async () => {
    const plan = planOf(DEFAULT_STACK);
    const { dir, output } = servicePaths(plan.services.find((s) => s.id === 'server-1/app')!);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(`${output}.1`, '{"time":1795539601000,"msg":"old"}\n{"time":1795539602000,"msg":"kept 1"}\n');
    fs.writeFileSync(output, '{"time":1795539603000,"msg":"kept 2"}\n');
    const got: LogEntry[] = [];
    await showLogs(plan, { selector: 'server-1/app', since: 1795539602000, write: (e) => got.push(...e) });
    assert.deepEqual(
      got.map((e) => e.time),
      [1795539602000, 1795539603000],
    );
  });
});
