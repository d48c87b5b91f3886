/**
 * tandem's receiver of Alertmanager's webhook (src/alert-receiver/): it records what a
 * valid notification carries and logs one line for it, refuses anything else (schema,
 * size, content type) without recording, and its record stays bounded.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { NotificationLog, readRecords } from '../../src/alert-receiver/record.ts';
import { buildReceiver } from '../../src/alert-receiver/server.ts';
import { makeTempDir, removeTempDirs } from './fixtures/plans.ts';

after(removeTempDirs);

const AT = new Date('2026-11-24T20:00:00.000Z');

/** A notification as Alertmanager 0.25 sends it (extra fields included). */
function notification(status: 'firing' | 'resolved', alerts: { name: string; host?: string }[]) {
  return {
    version: '4',
    groupKey: '{}:{alertname="BackendServerDown", host="lb-1"}',
    truncatedAlerts: 0,
    status,
    receiver: 'tandem',
    groupLabels: { alertname: alerts[0]!.name },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://10.77.0.15:9093',
    alerts: alerts.map((a, i) => ({
      status,
      labels: { alertname: a.name, severity: 'warning', ...(a.host ? { host: a.host } : {}) },
      annotations: { summary: `${a.name} on ${a.host ?? 'the pair'}`, description: 'what to do' },
      startsAt: '2026-11-24T19:59:50.000Z',
      endsAt: status === 'resolved' ? '2026-11-24T20:00:00.000Z' : '0001-01-01T00:00:00Z',
      generatorURL: 'http://10.77.0.15:9090/graph',
      fingerprint: `f${i}`,
    })),
  };
}

function receiver(maxRecords = 100, bodyLimit?: number) {
  const file = path.join(makeTempDir(), 'notifications.jsonl');
  const lines: string[] = [];
  const app = buildReceiver({
    record: new NotificationLog(file, maxRecords),
    path: '/alerts',
    ...(bodyLimit ? { bodyLimit } : {}),
    log: (l) => lines.push(l),
    now: () => AT,
  });
  return { app, file, lines };
}

describe('the alert receiver', () => {
  it('GIVEN a notification of two alerts THEN records each with its status, times and summary, and logs one line', async () => {
    const { app, file, lines } = receiver();
    const res = await app.inject({
      method: 'POST',
      url: '/alerts',
      payload: notification('firing', [
        { name: 'BackendServerDown', host: 'lb-1' },
        { name: 'BackendServerDown', host: 'lb-2' },
      ]),
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { recorded: 2 });
    const records = readRecords(file);
    assert.deepEqual(
      records.map((r) => [r.status, r.alertname, r.host, r.summary, r.startsAt, r.receivedAt, r.fingerprint]),
      [
        [
          'firing',
          'BackendServerDown',
          'lb-1',
          'BackendServerDown on lb-1',
          '2026-11-24T19:59:50.000Z',
          AT.toISOString(),
          'f0',
        ],
        [
          'firing',
          'BackendServerDown',
          'lb-2',
          'BackendServerDown on lb-2',
          '2026-11-24T19:59:50.000Z',
          AT.toISOString(),
          'f1',
        ],
      ],
    );
    assert.deepEqual(lines, [
      '2026-11-24T20:00:00.000Z firing BackendServerDown lb-1,lb-2 (2 alerts): BackendServerDown on lb-1',
    ]);
    await app.close();
  });

  it('GIVEN a resolved notification of an alert without a host THEN records it as resolved, with its end', async () => {
    const { app, file, lines } = receiver();
    const res = await app.inject({
      method: 'POST',
      url: '/alerts',
      payload: notification('resolved', [{ name: 'VipNoStandby' }]),
    });
    assert.equal(res.statusCode, 200, res.body);
    const [record] = readRecords(file);
    assert.equal(record?.status, 'resolved');
    assert.equal(record?.host, undefined);
    assert.equal(record?.endsAt, '2026-11-24T20:00:00.000Z');
    assert.deepEqual(lines, ['2026-11-24T20:00:00.000Z resolved VipNoStandby (1 alert): VipNoStandby on the pair']);
    await app.close();
  });

  it('refuses what is not an Alertmanager notification, records nothing, and logs why', async () => {
    const { app, file, lines } = receiver();
    const good = notification('firing', [{ name: 'HostDown', host: 'lb-1' }]);
    const bad: [string, unknown][] = [
      ['another version', { ...good, version: '3' }],
      ['no alerts', { ...good, alerts: [] }],
      ['an unknown status', { ...good, status: 'burning' }],
      ['an alert without a name', { ...good, alerts: [{ ...good.alerts[0], labels: { host: 'lb-1' } }] }],
      ['a label that is no string', { ...good, alerts: [{ ...good.alerts[0], labels: { alertname: 'X', n: 1 } }] }],
      ['not an object', [good]],
    ];
    for (const [what, payload] of bad) {
      const res = await app.inject({ method: 'POST', url: '/alerts', payload: payload as object });
      assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
    }
    const text = await app.inject({
      method: 'POST',
      url: '/alerts',
      headers: { 'content-type': 'text/plain' },
      payload: 'firing',
    });
    assert.equal(text.statusCode, 400, 'a text body is no notification');
    const broken = await app.inject({
      method: 'POST',
      url: '/alerts',
      headers: { 'content-type': 'application/json' },
      payload: '{"version":',
    });
    assert.equal(broken.statusCode, 400);
    assert.equal(fs.existsSync(file), false, 'nothing recorded');
    assert.equal(lines.length, bad.length + 2);
    for (const line of lines) assert.match(line, /^2026-11-24T20:00:00.000Z refused \(4\d\d\): /);
    await app.close();
  });

  it('GIVEN a body over the limit THEN answers 413 and records nothing', async () => {
    const { app, file } = receiver(100, 2048);
    const big = notification('firing', [{ name: 'HostDown', host: 'x'.repeat(4096) }]);
    const res = await app.inject({ method: 'POST', url: '/alerts', payload: big });
    assert.equal(res.statusCode, 413);
    assert.equal(fs.existsSync(file), false);
    await app.close();
  });

  it('keeps at most maxRecords records, the newest', async () => {
    const { app, file } = receiver(10);
    for (let i = 0; i < 25; i++) {
      const res = await app.inject({
        method: 'POST',
        url: '/alerts',
        payload: notification('firing', [{ name: `Alert${i}`, host: 'lb-1' }]),
      });
      assert.equal(res.statusCode, 200);
      assert.ok(readRecords(file).length <= 10, `after ${i + 1} notifications`);
    }
    const names = readRecords(file).map((r) => r.alertname);
    assert.ok(names.length >= 5);
    assert.equal(names.at(-1), 'Alert24');
    assert.deepEqual(
      names,
      [...names].sort((a, b) => Number(a.slice(5)) - Number(b.slice(5))),
    );
    // A new log over the file counts what is there already.
    const again = new NotificationLog(file, 10);
    again.append(Array.from({ length: 10 }, () => readRecords(file)[0]!));
    assert.ok(readRecords(file).length <= 10);
    await app.close();
  });

  it('answers its readiness path', async () => {
    const { app } = receiver();
    assert.equal((await app.inject({ method: 'GET', url: '/-/ready' })).statusCode, 200);
    await app.close();
  });
});
