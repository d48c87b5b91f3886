/**
 * etcd's certificates from tandem's CA, made with the real openssl: the CA exists even
 * when site TLS is off or the user brought the site's certificate; keys are 0600.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { etcdMemberTls } from '../../src/engines/etcd.ts';
import { ensureEtcdTls } from '../../src/orchestrate/etcd.ts';
import { makeTempDir, planOf, removeTempDirs } from './fixtures/plans.ts';

after(removeTempDirs);

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });

describe('ensureEtcdTls', () => {
  it('GIVEN site TLS off (loopback) THEN makes the CA, a cert per member for its address, and the client cert', async () => {
    const plan = planOf({ database: { failover: true } });
    assert.equal(plan.tls.enabled, false);
    assert.equal(await ensureEtcdTls(plan), true);
    const etcd = plan.etcd!;
    const keys = [plan.tls.caKey, etcd.tls.clientKey];
    for (const member of etcd.members) {
      const tls = etcdMemberTls(plan.services.find((s) => s.id === `${member.host}/etcd`)!);
      keys.push(tls.key);
      assert.match(openssl('verify', '-CAfile', tls.ca, tls.cert), /OK/);
      const text = openssl('x509', '-in', tls.cert, '-noout', '-ext', 'subjectAltName,extendedKeyUsage');
      // Loopback: connections to 127.x leave from 127.0.0.1, which the peer's cert must name.
      assert.match(text, new RegExp(`IP Address:${member.address.replaceAll('.', '\\.')}, IP Address:127\\.0\\.0\\.1`));
      assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    }
    assert.match(openssl('verify', '-CAfile', etcd.tls.ca, etcd.tls.clientCert), /OK/);
    assert.match(
      openssl('x509', '-in', etcd.tls.clientCert, '-noout', '-ext', 'extendedKeyUsage'),
      /Client Authentication/,
    );
    for (const key of keys) assert.equal(fs.statSync(key).mode & 0o777, 0o600, key);
    assert.equal(await ensureEtcdTls(plan), false, 'a second run makes nothing');
  });

  it('GIVEN the user supplied the site certificate THEN the CA is made for etcd anyway', async () => {
    const dir = makeTempDir();
    fs.writeFileSync(path.join(dir, 'site.crt'), 'not used here');
    fs.writeFileSync(path.join(dir, 'site.key'), 'not used here');
    const plan = planOf(
      { tls: { enabled: true, cert: 'site.crt', key: 'site.key' }, database: { failover: true } },
      dir,
    );
    assert.equal(plan.tls.userSupplied, true);
    await ensureEtcdTls(plan);
    assert.ok(fs.existsSync(plan.tls.caCert) && fs.existsSync(plan.tls.caKey));
    assert.match(openssl('verify', '-CAfile', plan.etcd!.tls.ca, plan.etcd!.tls.clientCert), /OK/);
  });
});
