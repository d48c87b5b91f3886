/** `hosting: 'ssh'` in the model (issue 12): each host says how to reach it; a lab maps hosts to namespaces. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolve } from '../../src/config/resolve.ts';
import type { StackConfig } from '../../src/config/types.ts';
import { validateConfig } from '../../src/config/validate.ts';

const opts = { projectDir: '/srv/site', bundledAppDir: '/opt/tandem/src/app' };

/** Two servers at documentation addresses (RFC 5737), as the README shows them. */
const SERVERS: StackConfig = {
  hosting: 'ssh',
  hosts: [
    { name: 'lb-1', roles: ['lb'], ssh: { address: '192.0.2.11' } },
    {
      name: 'server-1',
      roles: ['web', 'app', 'db'],
      ssh: { address: '198.51.100.7', user: 'admin', port: 2222, identityFile: 'keys/deploy' },
    },
  ],
  database: { primary: 'server-1' },
};

describe('ssh hosting in the model', () => {
  it('GIVEN hosts with ssh targets THEN the plan keeps what was set and leaves the rest to ssh', () => {
    assert.deepEqual(validateConfig(SERVERS), []);
    const plan = resolve(SERVERS, opts);
    assert.equal(plan.hosting, 'ssh');
    assert.deepEqual(
      plan.hosts.map((h) => [h.name, h.address, h.ssh]),
      [
        ['lb-1', '192.0.2.11', { address: '192.0.2.11' }],
        [
          'server-1',
          '198.51.100.7',
          { address: '198.51.100.7', user: 'admin', port: 2222, identityFile: '/srv/site/keys/deploy' },
        ],
      ],
    );
    assert.equal(plan.lab, undefined);
    assert.equal(plan.hosts[0]!.namespace, undefined);
  });

  it('names every bad or missing ssh field by its path', () => {
    const issues = validateConfig({
      hosting: 'ssh',
      hosts: [
        { name: 'lb-1', roles: ['lb'] },
        { name: 'server-1', roles: ['web', 'app', 'db'], ssh: { user: 'Bad User', port: 0, colour: 'x' } },
        { name: 'server-2', roles: ['db'], ssh: { address: '-oProxyCommand=x' } },
      ],
      database: { primary: 'server-1' },
    });
    assert.deepEqual(
      issues.map((i) => `${i.path}: ${i.message}`),
      [
        'hosts/0/ssh: is required on ssh hosting: how to reach the host, { address, user?, port?, identityFile?, knownHostsFile? }',
        'hosts/1/ssh/colour: unknown key (expected one of: address, user, port, identityFile, knownHostsFile)',
        "hosts/1/ssh/user: 'Bad User' is not a user name",
        'hosts/1/ssh/port: should be a port number 1-65535, got 0',
        'hosts/1/ssh/address: is required',
        "hosts/2/ssh/address: '-oProxyCommand=x' is not an address or host name",
      ],
    );
  });

  it('refuses two hosts at one address, however it is given', () => {
    const issues = validateConfig({
      hosting: 'ssh',
      hosts: [
        { name: 'lb-1', roles: ['lb'], ssh: { address: '192.0.2.11' } },
        { name: 'server-1', roles: ['web', 'app', 'db'], ssh: { address: '192.0.2.11' } },
        { name: 'server-2', roles: ['db'], address: '192.0.2.11', ssh: { address: 'db.example.net' } },
      ],
      database: { primary: 'server-1' },
    });
    assert.deepEqual(
      issues.map((i) => `${i.path}: ${i.message}`),
      [
        'hosts/1/ssh/address: 192.0.2.11 is already the address of hosts/0',
        'hosts/2/address: 192.0.2.11 is already the address of hosts/0',
      ],
    );
  });

  it('refuses ssh targets and a lab on other hostings', () => {
    const issues = validateConfig(
      { hosts: [{ name: 'a', roles: ['lb', 'web', 'app', 'db'], ssh: { address: '192.0.2.1' } }], lab: {} },
      'netns',
    );
    assert.deepEqual(
      issues.map((i) => i.path),
      ['lab', 'hosts/0/ssh', 'database/primary'],
    );
  });

  it('GIVEN a lab THEN each host gets a namespace and link, and the lab key and known_hosts by default', () => {
    const config: StackConfig = {
      name: 'shop',
      hosting: 'ssh',
      stateDir: '.state',
      lab: { subnet: '10.120.0.0/24' },
      hosts: [
        { name: 'a', roles: ['lb'], ssh: { address: '10.120.0.11' } },
        { name: 'b', roles: ['web', 'app', 'db'], ssh: { address: '10.120.0.12', knownHostsFile: 'kh' } },
      ],
      database: { primary: 'b' },
    };
    assert.deepEqual(validateConfig(config), []);
    const plan = resolve(config, opts);
    assert.deepEqual(plan.lab, {
      subnet: '10.120.0.0/24',
      prefixLength: 24,
      bridge: plan.lab!.hosts[0]!.link.replace(/h0$/, 'br'),
      bridgeAddress: '10.120.0.1',
      dir: '/srv/site/.state/lab',
      hosts: [
        { name: 'a', address: '10.120.0.11', port: 22, namespace: 'tandem-lab-shop-a', link: plan.lab!.hosts[0]!.link },
        { name: 'b', address: '10.120.0.12', port: 22, namespace: 'tandem-lab-shop-b', link: plan.lab!.hosts[1]!.link },
      ],
    });
    assert.match(plan.lab!.bridge, /^tl[0-9a-f]{5}br$/);
    assert.deepEqual(plan.hosts[1]!.ssh, {
      address: '10.120.0.12',
      user: 'root',
      identityFile: '/srv/site/.state/lab/id_ed25519',
      knownHostsFile: '/srv/site/kh',
    });
  });

  it('keeps a lab inside its private subnet: addresses in it, not its bridge, one address a host', () => {
    const issues = validateConfig({
      hosting: 'ssh',
      lab: { subnet: '10.120.0.0/24' },
      hosts: [
        { name: 'a', roles: ['lb'], ssh: { address: '10.121.0.11' } },
        { name: 'b', roles: ['web', 'app', 'db'], ssh: { address: '10.120.0.1' } },
        { name: 'c', roles: ['web'], address: '10.120.0.14', ssh: { address: '10.120.0.13' } },
      ],
      database: { primary: 'b' },
    });
    assert.deepEqual(
      issues.map((i) => `${i.path}: ${i.message}`),
      [
        "hosts/0/ssh/address: a lab host needs an IPv4 address inside lab/subnet, got '10.121.0.11'",
        "hosts/1/ssh/address: 10.120.0.1 is the lab's network, bridge or broadcast address",
        'hosts/2/address: a lab host has one address: leave it unset or equal to ssh/address (10.120.0.13)',
      ],
    );
    assert.deepEqual(
      validateConfig({ hosting: 'ssh', lab: { subnet: '192.0.2.0/24' }, hosts: [] }).filter(
        (i) => i.path === 'lab/subnet',
      ),
      [{ path: 'lab/subnet', message: 'the lab needs a private subnet (10/8, 172.16/12 or 192.168/16)' }],
    );
  });
});
