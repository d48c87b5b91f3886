/** `tandem status` as text: etcd, failover, and the restarts of a service found hung. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatStatus } from '../../src/cli/format.ts';
import type { ServiceStatus, StackStatus } from '../../src/orchestrate/status.ts';

const base: StackStatus = {
  name: 'foobar',
  url: 'https://www.foobar.com/',
  hosting: 'netns',
  hosts: [],
  lb: { backends: [], vip: null },
  db: { primary: 'server-2', failover: null, replication: { running: true, lagTransactions: 0 }, instances: [] },
  etcd: null,
  monitor: null,
  backup: null,
};

const member = (name: string, address: string, healthy: boolean, leader: boolean) => ({
  name,
  address,
  healthy,
  leader,
  raftTerm: healthy ? 4 : null,
  dbSizeBytes: healthy ? 20480 : null,
});

describe('formatStatus: etcd', () => {
  it('shows the leader, the raft term and each member', () => {
    const text = formatStatus({
      ...base,
      etcd: {
        leader: 'server-2',
        raftTerm: 4,
        members: [
          member('server-1', '10.77.0.13', true, false),
          member('server-2', '10.77.0.14', true, true),
          member('lb-1', '10.77.0.11', false, false),
        ],
      },
    });
    assert.deepEqual(text.split('\n').slice(-4), [
      'etcd: leader server-2, raft term 4',
      '  server-1   10.77.0.13      follower',
      '  server-2   10.77.0.14      leader',
      '  lb-1       10.77.0.11      unhealthy',
    ]);
  });

  it('says when no member leads, and says nothing of etcd when failover is off', () => {
    const none = formatStatus({ ...base, etcd: { leader: null, raftTerm: null, members: [] } });
    assert.match(none, /^etcd: NO leader/m);
    assert.doesNotMatch(formatStatus(base), /etcd/);
  });
});

const service = (id: string, more: Partial<ServiceStatus> = {}): ServiceStatus => ({
  id,
  kind: id.split('/')[1]!,
  address: '127.60.0.12',
  port: 3306,
  state: 'running',
  pid: 4242,
  restarts: 0,
  livenessRestarts: null,
  ...more,
});

const statusWith = (services: ServiceStatus[]): StackStatus => ({
  name: 'foobar',
  url: 'http://www.foobar.com',
  hosting: 'loopback',
  hosts: [{ name: 'server-1', address: '127.60.0.12', roles: ['db'], services }],
  lb: { backends: [], vip: null },
  db: { primary: 'server-1', failover: null, replication: { running: false, lagTransactions: null }, instances: [] },
  etcd: null,
  monitor: null,
  backup: null,
});

describe('formatStatus', () => {
  it('shows how many restarts were of a hung engine, when and why the last one was', () => {
    const hung = service('server-1/mariadb', {
      restarts: 3,
      livenessRestarts: {
        count: 2,
        lastReason: '3 liveness probes failed in a row: no answer within 2000 ms',
        lastAt: '2026-11-24T08:00:00.000Z',
      },
    });
    const text = formatStatus(statusWith([hung, service('server-1/app', { restarts: 1 })]));
    assert.match(text, /server-1\s+127\.60\.0\.12:3306\s+mariadb\s+running\s+4242\s+3 \(2 hung\)\n/);
    assert.match(text, /server-1\s+127\.60\.0\.12:3306\s+app\s+running\s+4242\s+1\n/);
    assert.match(
      text,
      /^server-1\/mariadb last restarted as hung at 2026-11-24T08:00:00\.000Z: 3 liveness probes failed in a row: no answer within 2000 ms$/m,
    );
    assert.doesNotMatch(text, /server-1\/app last restarted/);
  });
});

describe('formatStatus: the monitor', () => {
  it('GIVEN no monitor host THEN says that nothing watches the stack', () => {
    assert.match(formatStatus(base), /^monitor: none — nothing watches this stack/m);
  });

  it('GIVEN a monitor host THEN names it and where Prometheus and Alertmanager answer', () => {
    const text = formatStatus({
      ...base,
      monitor: { host: 'monitor', prometheus: 'http://10.77.0.15:9090/', alertmanager: 'http://10.77.0.15:9093/' },
    });
    assert.match(
      text,
      /^monitor: monitor, Prometheus http:\/\/10\.77\.0\.15:9090\/, Alertmanager http:\/\/10\.77\.0\.15:9093\/$/m,
    );
  });
});
