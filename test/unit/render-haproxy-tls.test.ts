import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import { haproxyEngine } from '../../src/engines/haproxy.ts';
import { tlsTool } from '../../src/engines/tls.ts';
import { HSTS, haproxyPublicAddresses, haproxyServiceFor, renderHaproxy } from '../../src/render/haproxy.ts';
import {
  DEFAULT_STACK,
  installed,
  linesOf,
  NETNS_THREE_TIER_STACK,
  netnsPlanOf,
  planOf,
  removeTempDirs,
  run,
  servicesOf,
  writeStack,
} from './fixtures/plans.ts';
import { makeCertificates } from './fixtures/tls.ts';

after(removeTempDirs);

describe('renderHaproxy on netns hosting', () => {
  it('binds HTTP and HTTPS on the VIP only, with the stats port on the host address', () => {
    const plan = netnsPlanOf(DEFAULT_STACK);
    const lines = linesOf(renderHaproxy(plan, 'lb-2'));
    const binds = lines.filter((l) => l.startsWith('    bind '));

    assert.deepEqual(binds, [
      '    bind 10.77.0.10:80',
      `    bind 10.77.0.10:443 ssl crt ${plan.tls.pem} alpn h2,http/1.1 ssl-min-ver TLSv1.2`,
      '    bind 10.77.0.12:8405',
    ]);
    assert.ok(lines.includes('    source 10.77.0.12'));
    assert.deepEqual(haproxyPublicAddresses(plan, 'lb-1'), ['10.77.0.10']);
  });

  it("also binds the LB's own address when the config exposes it", () => {
    const plan = netnsPlanOf({ lb: { exposeHostAddresses: true, httpsPort: 8443 } });
    const binds = linesOf(renderHaproxy(plan, 'lb-1')).filter((l) => l.startsWith('    bind ') && !l.includes(':8405'));

    assert.deepEqual(
      binds.map((b) => b.trim().split(' ').slice(0, 3).join(' ')),
      ['bind 10.77.0.10:80', 'bind 10.77.0.11:80', 'bind 10.77.0.10:8443 ssl', 'bind 10.77.0.11:8443 ssl'],
    );
  });

  it('uses the Mozilla intermediate profile, redirects HTTP with 308 and sets HSTS on HTTPS', () => {
    const lines = linesOf(renderHaproxy(netnsPlanOf(DEFAULT_STACK), 'lb-1'));

    for (const expected of [
      '    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305',
      '    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
      '    ssl-default-bind-curves X25519:prime256v1:secp384r1',
      '    ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets',
      '    http-request redirect scheme https code 308 unless { ssl_fc }',
      '    http-request set-header X-Forwarded-Proto https',
      `    http-after-response set-header Strict-Transport-Security "${HSTS}" if { ssl_fc }`,
    ]) {
      assert.ok(lines.includes(expected), `missing line: ${expected}`);
    }
    assert.equal(HSTS, 'max-age=63072000; includeSubDomains');
    assert.ok(!lines.includes('    http-request set-header X-Forwarded-Proto http'));
  });

  it('keeps plain HTTP, and no TLS line, when TLS is off', () => {
    const netnsPlain = renderHaproxy(netnsPlanOf({ tls: { enabled: false } }), 'lb-1');
    const loopback = renderHaproxy(planOf(DEFAULT_STACK), 'lb-1');

    for (const text of [netnsPlain, loopback]) {
      assert.ok(linesOf(text).includes('    http-request set-header X-Forwarded-Proto http'));
      assert.doesNotMatch(text, /ssl|Strict-Transport-Security|redirect/);
    }
    assert.ok(linesOf(netnsPlain).includes('    bind 10.77.0.10:80'));
    assert.ok(linesOf(loopback).includes('    bind 127.60.0.11:80'));
  });
});

describe('tandem local CA (openssl)', { skip: !installed(tlsTool.binary) && 'openssl is not installed' }, () => {
  it('signs a site certificate for every host name that verifies against the CA', () => {
    const plan = netnsPlanOf({ aliases: ['www', 'shop'] });
    makeCertificates(plan);

    const verify = run(tlsTool.verifyCommand(plan.tls));
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stdout, /site\.crt: OK/);

    const text = run(['openssl', 'x509', '-in', plan.tls.cert, '-noout', '-text']).stdout;
    assert.match(text, /DNS:foobar\.com, DNS:www\.foobar\.com, DNS:shop\.foobar\.com\n/);
    assert.match(text, /TLS Web Server Authentication/);
    assert.match(text, /CA:FALSE/);
    assert.match(text, /Issuer: O = tandem, CN = tandem local CA foobar/);
    const ca = run(['openssl', 'x509', '-in', plan.tls.caCert, '-noout', '-text']).stdout;
    assert.match(ca, /Basic Constraints: critical\n\s+CA:TRUE/);
    assert.match(ca, /Certificate Sign, CRL Sign/);
    for (const key of [plan.tls.caKey, plan.tls.key, plan.tls.pem]) {
      assert.equal(fs.statSync(key).mode & 0o777, 0o600, `${key} must be 0600`);
    }
  });
});

describe(
  'haproxy -c on netns configs with a real certificate',
  {
    skip: (!installed(haproxyEngine.binary) || !installed(tlsTool.binary)) && 'haproxy or openssl is not installed',
  },
  () => {
    for (const [name, config] of [
      ['default', DEFAULT_STACK],
      ['three-tier, exposed LBs', { ...NETNS_THREE_TIER_STACK, lb: { exposeHostAddresses: true } }],
    ] as const) {
      it(`accepts every LB of the ${name} stack without warnings`, () => {
        const plan = netnsPlanOf(config);
        makeCertificates(plan);
        writeStack(plan);
        for (const service of servicesOf(plan, 'haproxy')) {
          const r = run(haproxyEngine.checkCommand(servicePaths(service)));
          assert.equal(r.status, 0, r.stderr);
          assert.doesNotMatch(r.stderr, /WARNING|ALERT/);
        }
      });
    }

    it('fails when the certificate file is missing, so the check can fail', () => {
      const plan = netnsPlanOf(DEFAULT_STACK);
      writeStack(plan);
      const r = run(haproxyEngine.checkCommand(servicePaths(haproxyServiceFor(plan, 'lb-1'))));
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /site\.pem/);
    });
  },
);
