/**
 * `tandem alerts` without a stack: Alertmanager's answer read into FiringAlerts (with the
 * receiver's last notification), the table and the errors when there is nothing to ask.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { DEFAULT_HOSTS } from '../../src/config/defaults.ts';
import { formatAlerts } from '../../src/cli/alerts.ts';
import { parseCommandLine, renderUsage } from '../../src/cli/args.ts';
import { alertmanagerUrl, firingAlertsOf, listAlerts } from '../../src/orchestrate/alerts.ts';
import { TandemError } from '../../src/errors.ts';
import { netnsPlanOf } from './fixtures/plans.ts';

/** Two alerts as Alertmanager 0.25's `GET /api/v2/alerts` returns them, newest first. */
const ANSWER = [
  {
    labels: { alertname: 'VipNoStandby', severity: 'warning', stack: 'foobar' },
    annotations: { summary: 'No load balancer stands by for the virtual IP', description: '…' },
    startsAt: '2026-11-24T20:01:30.000Z',
    endsAt: '2026-11-24T20:05:30.000Z',
    updatedAt: '2026-11-24T20:01:30.000Z',
    fingerprint: 'b2',
    receivers: [{ name: 'tandem' }],
    status: { state: 'active', silencedBy: [], inhibitedBy: [] },
  },
  {
    labels: {
      alertname: 'BackendServerDown',
      host: 'lb-1',
      instance: '10.77.0.11:8405',
      server: 'server-1',
      severity: 'warning',
    },
    annotations: { summary: 'HAProxy on lb-1 marks server-1 down' },
    startsAt: '2026-11-24T20:00:00.000Z',
    endsAt: '2026-11-24T20:05:00.000Z',
    fingerprint: 'a1',
    status: { state: 'suppressed', silencedBy: [], inhibitedBy: ['h'] },
  },
];

describe('tandem alerts', () => {
  it("reads Alertmanager's alerts oldest first, with the receiver's last notification", () => {
    const alerts = firingAlertsOf(ANSWER, new Map([['b2', '2026-11-24T20:01:33.000Z']]));
    assert.deepEqual(
      alerts.map((a) => [a.name, a.host, a.instance, a.state, a.since, a.notifiedAt]),
      [
        ['BackendServerDown', 'lb-1', '10.77.0.11:8405', 'suppressed', '2026-11-24T20:00:00.000Z', undefined],
        ['VipNoStandby', undefined, undefined, 'active', '2026-11-24T20:01:30.000Z', '2026-11-24T20:01:33.000Z'],
      ],
    );
    assert.equal(alerts[0]!.summary, 'HAProxy on lb-1 marks server-1 down');
    assert.throws(() => firingAlertsOf({ data: [] }), /other than a list/);
  });

  it('prints a table: name, host (or instance), since when, severity, summary; or that nothing fires', () => {
    const report = { monitor: 'monitor', alertmanager: 'http://10.77.0.15:9093', alerts: firingAlertsOf(ANSWER) };
    const now = Date.parse('2026-11-24T20:02:00.000Z');
    assert.equal(
      formatAlerts(report, now),
      [
        'ALERT              HOST  SINCE (UTC)                      SEVERITY  SUMMARY',
        'BackendServerDown  lb-1  2026-11-24 20:00:00 (2 min ago)  warning   HAProxy on lb-1 marks server-1 down [inhibited or silenced]',
        'VipNoStandby       -     2026-11-24 20:01:30 (30 s ago)   warning   No load balancer stands by for the virtual IP',
        '2 alerts firing (Alertmanager on monitor, http://10.77.0.15:9093)',
      ].join('\n'),
    );
    assert.equal(
      formatAlerts({ ...report, alerts: [] }, now),
      'nothing fires (Alertmanager on monitor, http://10.77.0.15:9093)',
    );
  });

  it('GIVEN a stack without a monitor host THEN says that nothing watches it', async () => {
    const plan = netnsPlanOf({
      hosts: [...DEFAULT_HOSTS.filter((h) => !h.roles.includes('monitor'))],
      database: { primary: 'server-2' },
    });
    await assert.rejects(listAlerts(plan), (err: TandemError) => {
      assert.equal(err.code, 'TANDEM_STATE');
      assert.match(err.message, /has no monitor host: nothing watches it/);
      assert.match(err.hint ?? '', /'monitor' role/);
      return true;
    });
  });

  it('GIVEN a monitor host that does not answer THEN names it and what to run', async () => {
    // A port that was free a moment ago: the connection is refused at once.
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((r) => server.close(r));
    const plan = netnsPlanOf({});
    const { url } = alertmanagerUrl(plan);
    assert.equal(url, 'http://10.77.0.15:9093');
    const local = { ...plan, monitor: { ...plan.monitor!, address: '127.0.0.1', alertmanagerPort: port } };
    await assert.rejects(listAlerts(local), (err: TandemError) => {
      assert.equal(err.code, 'TANDEM_NOT_READY');
      assert.match(
        err.message,
        new RegExp(`^Alertmanager on monitor \\(http://127\\.0\\.0\\.1:${port}\\) does not answer: .*ECONNREFUSED`),
      );
      assert.match(err.hint ?? '', /tandem status/);
      return true;
    });
  });

  it('is a command with --json, in the usage', () => {
    const args = parseCommandLine(['alerts', '--json']);
    assert.deepEqual([args.command, args.json], ['alerts', true]);
    assert.match(renderUsage(), /^ {2}alerts {4}the alerts that fire now/m);
  });
});
