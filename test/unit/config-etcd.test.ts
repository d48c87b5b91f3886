/**
 * Database failover's model: when it is on, where etcd's members go (any one host may
 * die and a majority remains), and the errors that name the config path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolve } from '../../src/config/resolve.ts';
import type { StackConfig } from '../../src/config/types.ts';
import { validateConfig } from '../../src/config/validate.ts';

const opts = { projectDir: '/srv/site', bundledAppDir: '/opt/tandem/src/app' };
const netns = { ...opts, defaultHosting: 'netns' as const };

const TWO_DB_THREE_HOSTS: StackConfig = {
  hosts: [
    { name: 'front', roles: ['lb', 'web', 'app'] },
    { name: 'db-a', roles: ['db'] },
    { name: 'db-b', roles: ['db', 'app', 'web'] },
  ],
  database: { primary: 'db-a' },
};

/** Failover is opt-in: these stacks turn it on. */
const on = (c: StackConfig): StackConfig => ({ ...c, database: { failover: true, ...c.database } });
const membersOf = (config: StackConfig, o: typeof opts = netns) =>
  resolve(on(config), o).etcd?.members.map((m) => m.host);

describe('etcd placement', () => {
  it('GIVEN the default netns design THEN three members: both db hosts, then the first LB', () => {
    assert.equal(resolve({}, netns).db.failover, false, 'off unless asked for');
    const plan = resolve(on({}), netns);
    assert.equal(plan.db.failover, true);
    assert.equal(plan.db.leaseTtlS, 1);
    assert.deepEqual(
      plan.etcd?.members.map((m) => [m.name, m.host, m.address]),
      [
        ['server-1', 'server-1', '10.77.0.13'],
        ['server-2', 'server-2', '10.77.0.14'],
        ['lb-1', 'lb-1', '10.77.0.11'],
      ],
    );
    assert.equal(plan.etcd?.prefix, '/tandem/foobar/');
    assert.deepEqual([plan.etcd?.clientPort, plan.etcd?.peerPort], [2379, 2380]);
    assert.deepEqual(
      plan.services.filter((s) => s.kind === 'etcd').map((s) => [s.id, s.port, s.after.length]),
      [
        ['lb-1/etcd', 2379, 0],
        ['server-1/etcd', 2379, 0],
        ['server-2/etcd', 2379, 0],
      ],
    );
    assert.deepEqual(
      plan.services.filter((s) => s.kind === 'sentinel').map((s) => [s.id, s.after]),
      [
        ['server-1/sentinel', ['server-1/mariadb', 'lb-1/etcd', 'server-1/etcd', 'server-2/etcd']],
        ['server-2/sentinel', ['server-2/mariadb', 'lb-1/etcd', 'server-1/etcd', 'server-2/etcd']],
      ],
    );
  });

  it('GIVEN the default loopback design THEN the same three members on distinct 127.x addresses', () => {
    const plan = resolve(on({}), opts);
    assert.deepEqual(
      plan.etcd?.members.map((m) => `${m.host}@${m.address}`),
      ['server-1@127.60.0.12', 'server-2@127.60.0.13', 'lb-1@127.60.0.11'],
    );
  });

  it('GIVEN any one host dies THEN a majority of the default members remains', () => {
    for (const config of [{}, TWO_DB_THREE_HOSTS]) {
      const plan = resolve(on(config), netns);
      const members = plan.etcd!.members.map((m) => m.host);
      assert.ok(members.length >= 3);
      assert.equal(new Set(members).size, members.length, 'distinct hosts');
      for (const dead of plan.hosts)
        assert.ok(members.filter((m) => m !== dead.name).length > members.length / 2, `without ${dead.name}`);
    }
  });

  it('GIVEN two db hosts among three hosts THEN the db hosts first, then the app/web host', () => {
    assert.deepEqual(membersOf(TWO_DB_THREE_HOSTS), ['db-a', 'db-b', 'front']);
  });

  it('prefers app/web hosts over load balancers, in config order', () => {
    const config: StackConfig = {
      hosts: [
        { name: 'lb-1', roles: ['lb'] },
        { name: 'web-1', roles: ['web'] },
        { name: 'db-1', roles: ['db'] },
        { name: 'app-1', roles: ['app'] },
        { name: 'db-2', roles: ['db'] },
      ],
      database: { primary: 'db-1' },
    };
    assert.deepEqual(membersOf(config), ['db-1', 'db-2', 'web-1']);
  });

  it('GIVEN fewer than three hosts THEN one member per host', () => {
    const config: StackConfig = {
      hosts: [
        { name: 'a', roles: ['lb', 'web', 'app', 'db'] },
        { name: 'b', roles: ['web', 'app', 'db'] },
      ],
      database: { primary: 'a' },
    };
    assert.deepEqual(membersOf(config), ['a', 'b']);
  });

  it('GIVEN explicit etcd.hosts and ports THEN those members, in that order', () => {
    const plan = resolve(
      on({ etcd: { hosts: ['lb-2', 'server-1', 'lb-1'], clientPort: 12379, peerPort: 12380 } }),
      netns,
    );
    assert.deepEqual(
      plan.etcd?.members.map((m) => m.host),
      ['lb-2', 'server-1', 'lb-1'],
    );
    assert.deepEqual(
      plan.services.filter((s) => s.kind === 'etcd').map((s) => `${s.id}:${s.port}`),
      ['lb-1/etcd:12379', 'lb-2/etcd:12379', 'server-1/etcd:12379'],
    );
  });

  it('GIVEN failover off (or one db host) THEN no etcd in the plan', () => {
    const off = resolve({ database: { failover: false } }, netns);
    assert.equal(off.db.failover, false);
    assert.equal(off.etcd, undefined);
    assert.ok(!off.services.some((s) => s.kind === 'etcd'));
    const oneDb = resolve(
      {
        hosts: [
          { name: 'lb', roles: ['lb'] },
          { name: 'one', roles: ['web', 'app', 'db'] },
        ],
        database: { primary: 'one' },
      },
      netns,
    );
    assert.equal(oneDb.db.failover, false);
    assert.equal(oneDb.etcd, undefined);
  });

  it('puts the client certificate beside the CA, in the state folder', () => {
    const plan = resolve(on({}), netns);
    assert.deepEqual(plan.etcd?.tls, {
      ca: '/srv/site/.tandem/tls/ca.crt',
      clientCert: '/srv/site/.tandem/tls/etcd-client.crt',
      clientKey: '/srv/site/.tandem/tls/etcd-client.key',
    });
    assert.equal(plan.etcd?.tls.ca, plan.tls.caCert);
  });
});

describe('failover validation', () => {
  const issuesOf = (config: unknown) => validateConfig(config, 'netns');

  it('GIVEN failover on with one db host THEN an error names database/failover', () => {
    const issues = issuesOf({
      hosts: [
        { name: 'lb', roles: ['lb'] },
        { name: 'one', roles: ['web', 'app', 'db'] },
      ],
      database: { primary: 'one', failover: true },
    });
    assert.deepEqual(issues, [
      {
        path: 'database/failover',
        message: "needs at least 2 hosts with the 'db' role (there are 1): a replica to promote",
      },
    ]);
  });

  it('GIVEN an even count, a duplicate or an unknown host in etcd.hosts THEN errors name each path', () => {
    assert.deepEqual(issuesOf({ etcd: { hosts: ['server-1', 'server-2'] } }), [
      {
        path: 'etcd/hosts',
        message: 'should name an odd number of hosts (got 2): a majority must survive the loss of one',
      },
    ]);
    assert.deepEqual(issuesOf({ etcd: { hosts: ['server-1', 'nope', 'server-1'] } }), [
      { path: 'etcd/hosts/1', message: "'nope' is not the name of a host in `hosts`" },
      { path: 'etcd/hosts/2', message: "'server-1' is already etcd/hosts/0" },
    ]);
  });

  it('GIVEN a lease out of 1..10 s or clashing ports THEN errors name the path', () => {
    const paths = (config: unknown) => issuesOf(config).map((i) => i.path);
    assert.deepEqual(paths({ database: { leaseTtlS: 11 } }), ['database/leaseTtlS']);
    assert.deepEqual(paths({ database: { leaseTtlS: 1.5 } }), ['database/leaseTtlS']);
    assert.deepEqual(paths({ etcd: { clientPort: 2380 } }), ['etcd/peerPort']);
    assert.deepEqual(paths({ etcd: { hosts: 'server-1' } }), ['etcd/hosts']);
  });
});
