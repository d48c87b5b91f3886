import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultEtcdHosts } from '../../src/config/etcd-placement.ts';
import { resolve } from '../../src/config/resolve.ts';
import type { StackConfig } from '../../src/config/types.ts';
import { validateConfig } from '../../src/config/validate.ts';
import { MONITORED_STACK } from './fixtures/plans.ts';

const opts = { projectDir: '/srv/site', bundledAppDir: '/opt/tandem/src/app', defaultHosting: 'netns' as const };

describe('the monitor role', () => {
  it('GIVEN a monitor host THEN the plan names it, its ports and bounds, and keeps the role on the host', () => {
    const plan = resolve(MONITORED_STACK, opts);
    const monitor = plan.monitor!;
    assert.deepEqual(
      [monitor.host, monitor.address, monitor.dir, monitor.prometheusPort, monitor.scrapeIntervalS],
      ['monitor', '10.77.0.15', '/srv/site/.tandem/hosts/monitor/prometheus', 9090, 5],
    );
    assert.deepEqual(monitor.exporterPorts, { node: 9100, mysqld: 9104, nginx: 9113, sentinel: 9109 });
    assert.deepEqual(plan.hosts.find((h) => h.name === 'monitor')?.roles, ['monitor']);
  });

  it('GIVEN a monitor host THEN the stack gains its engines and the exporters, and keeps every other service', () => {
    const withMonitor = resolve(MONITORED_STACK, opts);
    const without = resolve({ ...MONITORED_STACK, hosts: MONITORED_STACK.hosts!.slice(0, 4) }, opts);
    assert.ok(without.services.length > 0);
    assert.deepEqual(withMonitor.services.slice(0, without.services.length), without.services);
    const added = withMonitor.services.slice(without.services.length).map((s) => [s.id, s.port, s.after]);
    assert.deepEqual(added, [
      ['lb-1/node-exporter', 9100, []],
      ['lb-2/node-exporter', 9100, []],
      ['server-1/node-exporter', 9100, []],
      ['server-2/node-exporter', 9100, []],
      ['monitor/node-exporter', 9100, []],
      ['server-1/mysqld-exporter', 9104, ['server-1/mariadb']],
      ['server-2/mysqld-exporter', 9104, ['server-2/mariadb']],
      ['server-1/nginx-exporter', 9113, ['server-1/nginx']],
      ['server-2/nginx-exporter', 9113, ['server-2/nginx']],
      ['monitor/alert-receiver', 9095, []],
      ['monitor/alertmanager', 9093, ['monitor/alert-receiver']],
      ['monitor/blackbox-exporter', 9115, []],
      // After the LBs' keepalived too: before their first VRRP notify the VIP rules would page.
      [
        'monitor/prometheus',
        9090,
        ['monitor/alertmanager', 'monitor/blackbox-exporter', 'lb-1/keepalived', 'lb-2/keepalived'],
      ],
      // Backups (issue 10): the monitor host is the backup host by default.
      ['server-1/backup-source', 9097, ['server-1/mariadb']],
      ['server-2/backup-source', 9097, ['server-2/mariadb']],
      ['monitor/backup-agent', 9096, ['server-1/backup-source', 'server-2/backup-source']],
      // The binlog archive on the backup host (the monitor host by default), after the databases.
      ['monitor/binlog-archiver', 9098, ['server-1/mariadb', 'server-2/mariadb']],
    ]);
  });

  it('GIVEN no monitor host THEN the plan has no monitor section and no exporter', () => {
    const plan = resolve({ ...MONITORED_STACK, hosts: MONITORED_STACK.hosts!.slice(0, 4) }, opts);
    assert.equal('monitor' in plan, false);
    assert.deepEqual(
      plan.services.filter((s) => s.kind.endsWith('exporter')),
      [],
    );
  });

  it('the default design has a monitor host', () => {
    assert.equal(resolve({}, opts).monitor?.host, 'monitor');
  });

  it('GIVEN two monitor hosts THEN names the second by its path', () => {
    const config = {
      ...MONITORED_STACK,
      hosts: [...MONITORED_STACK.hosts!, { name: 'watch-2', roles: ['monitor', 'web'] }],
    } as StackConfig;
    assert.deepEqual(validateConfig(config, 'netns'), [
      { path: 'hosts/5/roles', message: "at most one host has the 'monitor' role (hosts/4 already has it)" },
    ]);
  });

  it('a monitor-only host is not an etcd member while the stack has three other hosts', () => {
    assert.deepEqual(
      defaultEtcdHosts([
        { name: 'monitor', roles: ['monitor'] },
        { name: 'lb-1', roles: ['lb'] },
        { name: 'server-1', roles: ['web', 'app', 'db'] },
        { name: 'server-2', roles: ['web', 'app', 'db'] },
      ]),
      ['server-1', 'server-2', 'lb-1'],
    );
  });
});

describe('the backup host', () => {
  const withoutMonitor = { ...MONITORED_STACK, hosts: MONITORED_STACK.hosts!.slice(0, 4) };

  it('GIVEN a monitor host THEN it keeps the backups and the binlog archive, on the default schedule', () => {
    const backup = resolve(MONITORED_STACK, opts).backup!;
    assert.deepEqual(
      [backup.host, backup.address, backup.dir, backup.archiveDir],
      ['monitor', '10.77.0.15', '/srv/site/.tandem/hosts/monitor/backups', '/srv/site/.tandem/hosts/monitor/binlogs'],
    );
    assert.deepEqual(
      [backup.fullEveryS, backup.incrementalEveryS, backup.keepFull, backup.agentPort, backup.sourcePort],
      [86_400, 3600, 7, 9096, 9097],
    );
  });

  it('GIVEN backup.host THEN that host keeps them, with the schedule given', () => {
    const backup = resolve(
      { ...MONITORED_STACK, backup: { host: 'lb-2', fullEveryHours: 6, incrementalEveryMinutes: 5, keepFull: 2 } },
      opts,
    ).backup!;
    assert.deepEqual(
      [backup.host, backup.fullEveryS, backup.incrementalEveryS, backup.keepFull],
      ['lb-2', 21_600, 300, 2],
    );
  });

  it('GIVEN neither a monitor host nor backup.host THEN the plan has no backup section', () => {
    assert.equal('backup' in resolve(withoutMonitor, opts), false);
  });

  it('GIVEN a db host or an unknown host as backup.host THEN names backup/host', () => {
    assert.deepEqual(validateConfig({ ...MONITORED_STACK, backup: { host: 'server-1' } }, 'netns'), [
      {
        path: 'backup/host',
        message: "'server-1' has the 'db' role: backups must live on a host that is not a database",
      },
    ]);
    assert.deepEqual(validateConfig({ ...MONITORED_STACK, backup: { host: 'vault' } }, 'netns'), [
      { path: 'backup/host', message: "'vault' is not the name of a host in `hosts`" },
    ]);
  });
});
