/**
 * HTTPS with the user's own certificate (not tandem's CA), on loopback hosts: HAProxy
 * serves it, `tandem ca` points at it, and http:// answers 308.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exec } from '../support/exec.ts';
import { TestStack } from '../support/stack.ts';

const LB = '127.68.0.11';
const stack = new TestStack('tls-user', {
  name: 'tlsuser',
  hosting: 'loopback',
  network: { subnet: '127.68.0.0/24' },
  tls: { enabled: true, cert: 'certs/site.crt', key: 'certs/site.key' },
});
const certDir = path.join(stack.dir, 'certs');

describe('HTTPS with a user-supplied certificate', { timeout: 300_000 }, () => {
  before(async () => {
    fs.mkdirSync(certDir);
    // GIVEN the user's own (self-signed) certificate for the site's names
    const made = await exec([
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=foobar.com',
      '-addext',
      'subjectAltName=DNS:foobar.com,DNS:www.foobar.com',
      '-keyout',
      path.join(certDir, 'site.key'),
      '-out',
      path.join(certDir, 'site.crt'),
    ]);
    assert.equal(made.code, 0, made.stderr);
    await stack.up();
  });
  after(() => stack.cleanup());

  const curl = (...args: string[]) =>
    exec(['curl', '-sS', '--resolve', `www.foobar.com:443:${LB}`, '--resolve', `www.foobar.com:80:${LB}`, ...args]);

  it('serves the site with that certificate; tandem ca names it; no CA is made', async () => {
    const ca = await stack.run('ca');
    assert.equal(ca.stdout.trim(), path.join(certDir, 'site.crt'));
    const r = await curl('--cacert', path.join(certDir, 'site.crt'), 'https://www.foobar.com/whoami');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"server":"server-[12]"/);
    assert.equal(fs.existsSync(path.join(stack.dir, '.tandem/tls/ca.key')), false, 'no CA key was generated');
    assert.equal(fs.statSync(path.join(stack.dir, '.tandem/tls/site.pem')).mode & 0o777, 0o600);
  });

  it('answers http:// with 308 to https', async () => {
    const r = await curl('-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', 'http://www.foobar.com/x');
    assert.equal(r.stdout, '308 https://www.foobar.com/x');
  });
});
