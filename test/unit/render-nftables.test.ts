import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { hostPaths } from '../../src/config/paths.ts';
import type { StackConfig } from '../../src/config/types.ts';
import { nftablesEngine } from '../../src/engines/nftables.ts';
import { firewallRules, renderNftables } from '../../src/render/nftables.ts';
import {
  DEFAULT_STACK,
  installed,
  linesOf,
  makeTempDir,
  NETNS_THREE_TIER_STACK,
  netnsPlanOf,
  removeTempDirs,
  run,
  writeStack,
} from './fixtures/plans.ts';

after(removeTempDirs);

describe('firewallRules', () => {
  it('opens an LB to the public on the VIP, to VRRP from its peer, and to stats from tandem only', () => {
    const plan = netnsPlanOf(DEFAULT_STACK);

    assert.deepEqual(firewallRules(plan, 'lb-1'), [
      { comment: 'lb: HTTP and HTTPS from anyone', protocol: 'tcp', ports: [80, 443], to: ['10.77.0.10'] },
      { comment: 'lb: VRRP from the peer load balancer', protocol: 'vrrp', ports: [], from: ['10.77.0.12'] },
      {
        comment: 'lb: stats and metrics from tandem (root namespace)',
        protocol: 'tcp',
        ports: [8405],
        from: ['10.77.0.1'],
        to: ['10.77.0.11'],
      },
      // lb-1 is the third etcd member (after the two db hosts); lb-2 is none.
      {
        comment: 'etcd: raft from the other members',
        protocol: 'tcp',
        ports: [2380],
        from: ['10.77.0.13', '10.77.0.14'],
      },
      {
        comment: 'etcd: clients from the other members and the db hosts (sentinels)',
        protocol: 'tcp',
        ports: [2379],
        from: ['10.77.0.13', '10.77.0.14'],
      },
      {
        comment: 'monitor: scrapes from the monitor host',
        protocol: 'tcp',
        ports: [2379, 8405, 9100],
        from: ['10.77.0.15'],
        to: ['10.77.0.11'],
      },
    ]);
    assert.ok(!firewallRules(plan, 'lb-2').some((r) => r.comment.startsWith('etcd')));
  });

  it("also opens the LBs' own addresses when the config exposes them", () => {
    const plan = netnsPlanOf({ lb: { exposeHostAddresses: true } });
    assert.deepEqual(firewallRules(plan, 'lb-2')[0]!.to, ['10.77.0.10', '10.77.0.12']);
  });

  it('lets the LBs reach nginx, the other nginx reach the app, and the other db host reach MariaDB', () => {
    const plan = netnsPlanOf(DEFAULT_STACK);
    const rules = firewallRules(plan, 'server-1');

    assert.deepEqual(
      rules.map((r) => [r.comment, r.ports, r.from]),
      [
        ['web: from load balancers', [80], ['10.77.0.11', '10.77.0.12']],
        // server-2's nginx falls back to this app (in either slot: `tandem deploy`); server-1's
        // own nginx comes over lo, also with the LBs' readiness checks.
        ['app: from the web servers that proxy to it', [3000, 3100], ['10.77.0.14']],
        ['db: from app hosts', [3306], ['10.77.0.14']],
        ['db: replication between database hosts', [3306], ['10.77.0.14']],
        // The binlog archiver on the backup host (the monitor) streams the primary's binlog.
        ['db: binlog archive from the backup host', [3306], ['10.77.0.15']],
        // A diverged database receives its reseed stream from the primary (failover).
        ['db: reseed stream between database hosts', [4444], ['10.77.0.14']],
        ['etcd: raft from the other members', [2380], ['10.77.0.14', '10.77.0.11']],
        ['etcd: clients from the other members and the db hosts (sentinels)', [2379], ['10.77.0.14', '10.77.0.11']],
        // Every port Prometheus scrapes here (etcd, the app's metrics, the exporters), to the monitor alone.
        ['monitor: scrapes from the monitor host', [2379, 3001, 3101, 9100, 9104, 9109, 9113], ['10.77.0.15']],
        // Its backup source, to the backup host (the monitor host by default) alone.
        ['backup: the backup source, from the backup host', [9097], ['10.77.0.15']],
      ],
    );
  });

  it("opens the monitor's Prometheus and Alertmanager to tandem's root namespace only", () => {
    const plan = netnsPlanOf(DEFAULT_STACK);
    assert.deepEqual(
      firewallRules(plan, 'monitor').map((r) => [r.comment, r.ports, r.from, r.to]),
      [
        [
          'monitor: Prometheus and Alertmanager from tandem (root namespace)',
          [9090, 9093],
          ['10.77.0.1'],
          ['10.77.0.15'],
        ],
        // The backup agent (`tandem backup`), to tandem's root namespace only.
        ['backup: the backup agent, from tandem (root namespace)', [9096], ['10.77.0.1'], ['10.77.0.15']],
      ],
    );
  });

  it('derives every tier of the three-tier variant', () => {
    const plan = netnsPlanOf(NETNS_THREE_TIER_STACK);
    const of = (host: string) =>
      firewallRules(plan, host).map((r) => `${r.comment} ${r.ports.join(',')} ${r.from?.join(',') ?? '*'}`);
    const [lb1, lb2, web1, web2, app1, app2, db1, db2] = plan.hosts.map((h) => h.address);

    // etcd's members: the db hosts, then the first web host; its clients: members and db hosts.
    assert.deepEqual(of('web-1'), [
      `web: from load balancers 80 ${lb1},${lb2}`,
      `etcd: raft from the other members 2380 ${db1},${db2}`,
      `etcd: clients from the other members and the db hosts (sentinels) 2379 ${db1},${db2}`,
    ]);
    assert.deepEqual(of('web-2'), [`web: from load balancers 80 ${lb1},${lb2}`]);
    assert.deepEqual(of('app-2'), [`app: from the web servers that proxy to it 3000,3100 ${web1},${web2}`]);
    assert.deepEqual(of('db-1'), [
      `db: from app hosts 3306 ${app1},${app2}`,
      `db: replication between database hosts 3306 ${db2}`,
      `db: reseed stream between database hosts 4444 ${db2}`,
      `etcd: raft from the other members 2380 ${db2},${web1}`,
      `etcd: clients from the other members and the db hosts (sentinels) 2379 ${db2},${web1}`,
    ]);
    assert.deepEqual(
      of('db-2').at(-1),
      `etcd: clients from the other members and the db hosts (sentinels) 2379 ${db1},${web1}`,
    );
  });

  it('opens SSH only from firewall.sshFrom, and nothing on the client', () => {
    const plan = netnsPlanOf({ firewall: { sshFrom: ['10.77.0.1', '192.0.2.0/24'] } });

    assert.deepEqual(firewallRules(plan, 'server-2').at(-1), {
      comment: 'ssh: from firewall.sshFrom',
      protocol: 'tcp',
      ports: [22],
      from: ['10.77.0.1', '192.0.2.0/24'],
    });
    assert.ok(!firewallRules(netnsPlanOf(DEFAULT_STACK), 'server-2').some((r) => r.ports.includes(22)));
    assert.deepEqual(firewallRules(netnsPlanOf(DEFAULT_STACK), 'client'), []);
  });
});

describe('renderNftables', () => {
  it('drops by default and accepts replies, loopback and ping in table inet tandem', () => {
    const lines = linesOf(renderNftables(netnsPlanOf(DEFAULT_STACK), 'lb-1'));

    assert.equal(lines[1], 'table inet tandem');
    assert.equal(lines[2], 'delete table inet tandem');
    for (const expected of [
      'table inet tandem {',
      '        type filter hook input priority filter; policy drop;',
      '        type filter hook forward priority filter; policy drop;',
      '        type filter hook output priority filter; policy accept;',
      '        ct state established,related accept comment "replies to connections this host made"',
      '        icmp type echo-request accept comment "ping"',
      '        ip daddr 10.77.0.10 tcp dport { 80, 443 } accept comment "lb: HTTP and HTTPS from anyone"',
      '        ip saddr 10.77.0.12 ip protocol vrrp accept comment "lb: VRRP from the peer load balancer"',
      '        ip saddr 10.77.0.1 ip daddr 10.77.0.11 tcp dport 8405 accept comment "lb: stats and metrics from tandem (root namespace)"',
    ]) {
      assert.ok(lines.includes(expected), `missing line: ${expected}`);
    }
    assert.ok(lines.some((l) => l.startsWith('        iif "lo" accept')));
  });

  it('renders source sets and plain-HTTP LBs when TLS is off', () => {
    const plan = netnsPlanOf({ tls: { enabled: false } });

    assert.ok(
      linesOf(renderNftables(plan, 'lb-2')).includes(
        '        ip daddr 10.77.0.10 tcp dport 80 accept comment "lb: HTTP from anyone"',
      ),
    );
    assert.ok(
      linesOf(renderNftables(plan, 'server-2')).includes(
        '        ip saddr { 10.77.0.11, 10.77.0.12 } tcp dport 80 accept comment "web: from load balancers"',
      ),
    );
  });

  it('is written by renderHostFiles to hostPaths(host).firewall', () => {
    const plan = netnsPlanOf(DEFAULT_STACK);
    writeStack(plan);
    for (const host of plan.hosts) {
      assert.equal(fs.readFileSync(hostPaths(host).firewall, 'utf8'), renderNftables(plan, host.name));
    }
  });
});

const root = process.getuid?.() === 0;

describe(
  'nft -c on the rendered rulesets',
  {
    skip: (!installed(nftablesEngine.binary) && 'nft is not installed') || (!root && 'nft needs root'),
  },
  () => {
    for (const [name, config] of [
      ['default', DEFAULT_STACK],
      ['three-tier', NETNS_THREE_TIER_STACK],
      [
        'ssh and exposed LBs',
        { firewall: { sshFrom: ['10.77.0.1', '192.0.2.0/24'] }, lb: { exposeHostAddresses: true } },
      ],
    ] as [string, StackConfig][]) {
      it(`accepts every host of the ${name} stack`, () => {
        const plan = netnsPlanOf(config);
        writeStack(plan);
        for (const host of [...plan.hosts, plan.client!]) {
          const file = hostPaths(host).firewall;
          if (host === plan.client) fs.writeFileSync(file, renderNftables(plan, host.name));
          const r = run(nftablesEngine.checkCommand(file));
          assert.equal(r.status, 0, `${host.name}: ${r.stderr}`);
        }
      });
    }

    it('loads twice in a fresh namespace, leaving one table (unshare: nothing outlives the test)', () => {
      const file = path.join(makeTempDir(), 'firewall.nft');
      fs.writeFileSync(file, renderNftables(netnsPlanOf(DEFAULT_STACK), 'server-1'));
      const apply = nftablesEngine.applyCommand(file).join(' ');
      const list = nftablesEngine.listCommand().join(' ');
      const r = run(['unshare', '--net', 'sh', '-c', `${apply} && ${apply} && ${list}`]);

      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.match(/table inet tandem/g)?.length, 1);
      assert.equal(r.stdout.match(/web: from load balancers/g)?.length, 1);
    });

    it('fails on a broken rule, so the check can fail', () => {
      const file = path.join(makeTempDir(), 'firewall.nft');
      fs.writeFileSync(
        file,
        renderNftables(netnsPlanOf(DEFAULT_STACK), 'lb-1').replace('policy drop;', 'policy maybe;'),
      );

      const r = run(nftablesEngine.checkCommand(file));
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /maybe/);
    });
  },
);
