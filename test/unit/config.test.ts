import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolve } from '../../src/config/resolve.ts';
import type { StackConfig } from '../../src/config/types.ts';
import { validateConfig } from '../../src/config/validate.ts';
import { ConfigError } from '../../src/errors.ts';
import { startOrder } from '../../src/orchestrate/order.ts';

const opts = { projectDir: '/srv/site', bundledAppDir: '/opt/tandem/src/app' };

describe('validateConfig', () => {
  it('accepts the default (empty) config', () => {
    assert.deepEqual(validateConfig({}), []);
  });

  it('GIVEN several mistakes THEN reports every one with the path of the bad value', () => {
    const issues = validateConfig({
      colour: 'blue',
      lb: { balance: 'random', port: 70000 },
      hosts: [
        { name: 'lb-1', roles: ['lb'], address: '127.60.0.5' },
        { name: 'server-1', roles: ['web', 'app', 'db', 'cache'], address: '127.60.0.5' },
      ],
    });
    assert.deepEqual(issues, [
      {
        path: 'colour',
        message:
          'unknown key (expected one of: name, domain, aliases, hosting, stateDir, network, lab, hosts, lb, web, app, database, backup, etcd, tls, firewall)',
      },
      { path: 'lb/balance', message: "should be one of roundrobin, leastconn, source, got 'random'" },
      { path: 'lb/port', message: 'should be a port number 1-65535, got 70000' },
      { path: 'hosts/1/roles/3', message: "unknown role 'cache' (expected one of lb, web, app, db, monitor)" },
      { path: 'hosts/1/address', message: '127.60.0.5 is already the address of hosts/0' },
      { path: 'database/primary', message: 'is required: name the db host that starts as primary (one of server-1)' },
    ]);
  });

  it('checks lb.rateLimit: requests required, whole numbers in range, no unknown keys', () => {
    assert.deepEqual(validateConfig({ lb: { rateLimit: { requests: 100, perSeconds: 10 } } }), []);
    assert.deepEqual(validateConfig({ lb: { rateLimit: { perSeconds: 0, burst: 5 } } }), [
      { path: 'lb/rateLimit/burst', message: 'unknown key (expected one of: requests, perSeconds)' },
      { path: 'lb/rateLimit/perSeconds', message: 'should be a whole number from 1 to 3600, got 0' },
      { path: 'lb/rateLimit/requests', message: 'required' },
    ]);
    assert.deepEqual(validateConfig({ lb: { rateLimit: { requests: 1.5 } } }), [
      { path: 'lb/rateLimit/requests', message: 'should be a whole number from 1 to 1000000, got 1.5' },
    ]);
    assert.deepEqual(validateConfig({ lb: { rateLimit: 100 } }), [
      { path: 'lb/rateLimit', message: 'should be a object' },
    ]);
  });

  it("keeps the app's private listener off the ports a host may already use", () => {
    assert.deepEqual(validateConfig({ app: { adminPort: 3000 } }), [
      { path: 'app/adminPort', message: 'should differ from app/port (both are 3000)' },
    ]);
    assert.deepEqual(validateConfig({ app: { adminPort: 9100 }, web: { port: 9100 } }), [
      { path: 'app/adminPort', message: 'should differ from web/port (both are 9100)' },
    ]);
    assert.deepEqual(validateConfig({ app: { adminPort: 0 } }), [
      { path: 'app/adminPort', message: 'should be a port number 1-65535, got 0' },
    ]);
    assert.deepEqual(validateConfig({ app: { adminPort: 9100 } }), []);
  });

  it('names a primary that is not a db host', () => {
    const issues = validateConfig({ database: { primary: 'lb-1' } });
    assert.deepEqual(issues, [
      { path: 'database/primary', message: "'lb-1' is not a host with the 'db' role (db hosts: server-1, server-2)" },
    ]);
  });

  it('rejects wrong types, duplicate names, non-loopback addresses and missing roles', () => {
    const issues = validateConfig({
      aliases: 'www',
      web: { workers: 0 },
      hosts: [
        { name: 'a', roles: ['lb', 'web', 'app', 'db'], address: '10.0.0.1' },
        { name: 'a', roles: [] },
      ],
      database: { primary: 'a' },
    });
    assert.deepEqual(
      issues.map((i) => i.path),
      ['aliases', 'web/workers', 'hosts/0/address', 'hosts/1/name', 'hosts/1/roles'],
    );
  });
});

describe('resolve', () => {
  it('GIVEN the default config THEN yields the textbook design as a frozen plan', () => {
    const plan = resolve({}, opts);
    assert.ok(Object.isFrozen(plan) && Object.isFrozen(plan.hosts[0]));
    assert.deepEqual(
      plan.hosts.map((h) => [h.name, h.address, h.roles.join('+')]),
      [
        ['lb-1', '127.60.0.11', 'lb'],
        ['server-1', '127.60.0.12', 'db+app+web'],
        ['server-2', '127.60.0.13', 'db+app+web'],
        ['monitor', '127.60.0.14', 'monitor'],
      ],
    );
    assert.equal(plan.url, 'http://127.60.0.11/');
    assert.deepEqual(plan.hostnames, ['foobar.com', 'www.foobar.com']);
    assert.equal(plan.db.primary, 'server-2');
    assert.deepEqual(plan.db.replicas, ['server-1']);
    assert.equal(plan.stateDir, '/srv/site/.tandem');
    assert.deepEqual(plan.web.upstreams['server-1'], [
      { address: '127.60.0.12', port: 3000, backup: false },
      { address: '127.60.0.13', port: 3000, backup: true },
    ]);
    assert.deepEqual(
      plan.lb.backends.map((b) => [b.name, b.backup]),
      [
        ['server-1', false],
        ['server-2', false],
      ],
    );
    assert.equal(plan.app.codeDir, '/opt/tandem/src/app');
  });

  it('starts the primary before its replica, databases before apps, nginx after its app', () => {
    const order = startOrder(resolve({ database: { failover: true } }, opts).services).map((s) => s.id);
    assert.deepEqual(order, [
      'lb-1/etcd',
      'server-1/etcd',
      'server-2/etcd',
      'server-2/mariadb',
      'server-1/mariadb',
      'server-1/app',
      'server-2/app',
      'server-1/nginx',
      'server-2/nginx',
      'lb-1/haproxy',
      'server-1/sentinel',
      'server-2/sentinel',
      // The monitor's engines and the exporters (issue 9), each after what it reads.
      'lb-1/node-exporter',
      'server-1/node-exporter',
      'server-2/node-exporter',
      'monitor/node-exporter',
      'server-1/mysqld-exporter',
      'server-2/mysqld-exporter',
      'server-1/nginx-exporter',
      'server-2/nginx-exporter',
      'monitor/alert-receiver',
      'monitor/alertmanager',
      'monitor/blackbox-exporter',
      'monitor/prometheus',
      // Backups (issue 10): a source beside each database, the agent on the monitor host.
      'server-1/backup-source',
      'server-2/backup-source',
      'monitor/backup-agent',
      'monitor/binlog-archiver',
    ]);
  });

  it('active-passive marks all but the first server as backup', () => {
    const plan = resolve({ lb: { mode: 'active-passive', balance: 'leastconn' } }, opts);
    assert.deepEqual(
      plan.lb.backends.map((b) => b.backup),
      [false, true],
    );
    assert.equal(plan.lb.balance, 'leastconn');
  });

  it('expresses the three-tier variant: nginx proxies to every app host', () => {
    const config: StackConfig = {
      hosts: [
        { name: 'lb-1', roles: ['lb'] },
        { name: 'web-1', roles: ['web'] },
        { name: 'app-1', roles: ['app'] },
        { name: 'app-2', roles: ['app'] },
        { name: 'db-1', roles: ['db'] },
        { name: 'db-2', roles: ['db'] },
        { name: 'db-3', roles: ['db'] },
      ],
      database: { primary: 'db-1' },
    };
    const plan = resolve(config, opts);
    assert.deepEqual(
      plan.web.upstreams['web-1']?.map((u) => u.address),
      ['127.60.0.13', '127.60.0.14'],
    );
    assert.deepEqual(plan.db.replicas, ['db-2', 'db-3']);
    assert.deepEqual(plan.db.serverIds, { 'db-1': 1, 'db-2': 2, 'db-3': 3 });
  });

  it('throws a ConfigError carrying every issue', () => {
    assert.throws(
      () => resolve({ hosts: [{ name: 'x', roles: ['lb'] }] } as StackConfig, opts),
      (err: unknown) => err instanceof ConfigError && err.issues.length === 3,
    );
  });
});

describe('netns hosting in the model', () => {
  const netns = { ...opts, defaultHosting: 'netns' as const };

  it('GIVEN the default config as root THEN two LBs share a VIP, the client resolves the domain to it, HTTPS is on', () => {
    const plan = resolve({}, netns);
    assert.equal(plan.hosting, 'netns');
    assert.deepEqual(
      plan.hosts.map((h) => [h.name, h.address, h.namespace]),
      [
        ['lb-1', '10.77.0.11', 'tandem-foobar-lb-1'],
        ['lb-2', '10.77.0.12', 'tandem-foobar-lb-2'],
        ['server-1', '10.77.0.13', 'tandem-foobar-server-1'],
        ['server-2', '10.77.0.14', 'tandem-foobar-server-2'],
        ['monitor', '10.77.0.15', 'tandem-foobar-monitor'],
      ],
    );
    assert.equal(plan.lb.vip, '10.77.0.10');
    assert.equal(plan.client?.address, '10.77.0.2');
    assert.equal(plan.network.bridgeAddress, '10.77.0.1');
    assert.ok(
      plan.hosts.every((h) => (h.link?.length ?? 99) <= 15),
      'interface names fit IFNAMSIZ',
    );
    assert.equal(plan.url, 'https://www.foobar.com/');
    assert.deepEqual(plan.lb.vrrp?.priorities, { 'lb-1': 150, 'lb-2': 100 });
    assert.equal(plan.lb.vrrp?.preempt, false);
    assert.deepEqual(
      plan.dns.records.filter((r) => r.address === '10.77.0.10').map((r) => r.name),
      ['foobar.com', 'www.foobar.com'],
    );
    assert.ok(plan.services.some((s) => s.id === 'lb-2/keepalived' && s.after.includes('lb-2/haproxy')));
    assert.ok(plan.services.some((s) => s.id === 'client/dnsmasq'));
    assert.equal(plan.firewall.enabled, true);
  });

  it('rejects what each hosting cannot do, naming the path', () => {
    assert.deepEqual(
      validateConfig({ hosting: 'netns', network: { subnet: '127.9.0.0/24', vip: '10.1.1.1' } }).map((i) => i.path),
      ['network/subnet', 'network/vip'],
    );
    assert.deepEqual(
      validateConfig({
        hosting: 'loopback',
        network: { vip: '127.60.0.10' },
        firewall: { sshFrom: ['10.0.0.0/8'] },
      }).map((i) => i.message),
      [
        'needs netns hosting (loopback hosts share one network: no VIP, no per-host firewall)',
        'needs netns hosting (loopback hosts share one network: no VIP, no per-host firewall)',
      ],
    );
    assert.deepEqual(validateConfig({ tls: { cert: 'site.crt' } }), [
      { path: 'tls/key', message: 'cert and key go together: give both or neither' },
    ]);
    const twoLbs = {
      hosts: [
        { name: 'lb-1', roles: ['lb'] },
        { name: 'lb-2', roles: ['lb'] },
        { name: 's', roles: ['web', 'app', 'db'] },
      ],
      database: { primary: 's' },
    } as StackConfig;
    assert.deepEqual(validateConfig({ ...twoLbs, hosting: 'loopback' }), [
      { path: 'hosts', message: 'more than one load balancer needs a floating IP: use netns hosting' },
    ]);
    assert.deepEqual(validateConfig({ ...twoLbs, hosting: 'netns' }), []);
  });
});
