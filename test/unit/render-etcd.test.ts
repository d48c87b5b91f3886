import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import { resolve } from '../../src/config/resolve.ts';
import { etcdEngine } from '../../src/engines/index.ts';
import { renderEtcdExtensions } from '../../src/engines/tls.ts';
import { REQUIREMENTS } from '../../src/orchestrate/doctor.ts';
import { renderEtcd } from '../../src/render/etcd.ts';

const plan = resolve(
  { database: { failover: true } },
  { projectDir: '/srv/site', bundledAppDir: '/opt/app', defaultHosting: 'netns' },
);
const dir = '/srv/site/.tandem/hosts/server-1/etcd';

describe('renderEtcd', () => {
  it('names the whole cluster, listens on the host address only, with TLS and client-cert-auth on both ports', () => {
    assert.equal(
      renderEtcd(plan, 'server-1'),
      [
        '# Rendered by tandem: etcd member server-1 (10.77.0.13) of stack foobar. Do not edit; change tandem.config.ts and run `tandem plan`.',
        'name: server-1',
        `data-dir: ${dir}/data`,
        'heartbeat-interval: 100',
        'election-timeout: 600',
        'pre-vote: true',
        'listen-peer-urls: https://10.77.0.13:2380',
        'listen-client-urls: https://10.77.0.13:2379',
        'initial-advertise-peer-urls: https://10.77.0.13:2380',
        'advertise-client-urls: https://10.77.0.13:2379',
        'initial-cluster: server-1=https://10.77.0.13:2380,server-2=https://10.77.0.14:2380,lb-1=https://10.77.0.11:2380',
        'initial-cluster-token: tandem-foobar',
        'initial-cluster-state: new',
        'client-transport-security:',
        `  cert-file: ${dir}/member.crt`,
        `  key-file: ${dir}/member.key`,
        `  trusted-ca-file: ${dir}/ca.crt`,
        '  client-cert-auth: true',
        'peer-transport-security:',
        `  cert-file: ${dir}/member.crt`,
        `  key-file: ${dir}/member.key`,
        `  trusted-ca-file: ${dir}/ca.crt`,
        '  client-cert-auth: true',
        'enable-v2: false',
        '# The sentinels speak the v3 JSON gateway; with a config file its default is off.',
        'enable-grpc-gateway: true',
        'logger: zap',
        'log-outputs: [stderr]',
        '',
      ].join('\n'),
    );
  });

  it('refuses a host that runs no member, and a plan without failover', () => {
    assert.throws(() => renderEtcd(plan, 'lb-2'), /runs no etcd service/);
    const off = resolve({ database: { failover: false } }, { projectDir: '/srv/site', bundledAppDir: '/opt/app' });
    assert.throws(() => renderEtcd(off, 'server-1'), /runs no etcd service/);
  });
});

describe('etcdEngine', () => {
  const paths = servicePaths({ dir, kind: 'etcd' });

  it('runs the rendered file; its check verifies the member certificate against the CA copy', () => {
    assert.equal(paths.config, `${dir}/etcd.yaml`);
    assert.deepEqual(etcdEngine.runCommand(paths), ['/usr/bin/etcd', '--config-file', `${dir}/etcd.yaml`]);
    assert.deepEqual(etcdEngine.checkCommand(paths), [
      '/usr/bin/openssl',
      'verify',
      '-CAfile',
      `${dir}/ca.crt`,
      `${dir}/member.crt`,
    ]);
    assert.equal(etcdEngine.reloadSignal, null);
    assert.equal(etcdEngine.stopSignal, 'SIGTERM');
  });

  it('runs etcdctl with the client certificate and bounded timeouts', () => {
    assert.deepEqual(etcdEngine.ctlCommand(plan.etcd!, ['https://10.77.0.13:2379'], ['endpoint', 'health']), [
      '/usr/bin/etcdctl',
      '--endpoints=https://10.77.0.13:2379',
      '--cacert=/srv/site/.tandem/tls/ca.crt',
      '--cert=/srv/site/.tandem/tls/etcd-client.crt',
      '--key=/srv/site/.tandem/tls/etcd-client.key',
      '--dial-timeout=1s',
      '--command-timeout=2s',
      'endpoint',
      'health',
    ]);
  });

  it('is among the engines tandem doctor checks, on every hosting', () => {
    assert.deepEqual(
      REQUIREMENTS.filter((r) => r.why === 'etcd').map((r) => [r.binary, r.debianPackage, r.needed]),
      [
        ['/usr/bin/etcd', 'etcd-server', 'always'],
        ['/usr/bin/etcdctl', 'etcd-client', 'always'],
      ],
    );
  });

  it("certifies a member as server and client for its addresses, tandem's client as client only", () => {
    assert.match(
      renderEtcdExtensions({ addresses: ['10.77.0.13'] }),
      /^extendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = IP:10\.77\.0\.13$/m,
    );
    const client = renderEtcdExtensions('client');
    assert.match(client, /^extendedKeyUsage = clientAuth$/m);
    assert.doesNotMatch(client, /subjectAltName/);
  });
});
