/** Pure pieces of the app: HTML escaping, signed cookies, the environment contract. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadAppConfig } from '../../src/app/config.ts';
import { CookieSigner, parseCookies, serializeCookie } from '../../src/app/cookies.ts';
import { escapeHtml, renderHome } from '../../src/app/html.ts';
import { hashPassword, verifyPassword } from '../../src/app/passwords.ts';

describe('HTML', () => {
  test('escapeHtml escapes the five characters and leaves the rest', () => {
    assert.equal(
      escapeHtml(`<script>alert("x&y")</script>'`),
      '&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;',
    );
    assert.equal(escapeHtml('plain text ü'), 'plain text ü');
  });

  test('renderHome escapes post bodies and server names', () => {
    const html = renderHome(
      [
        {
          uid: 'p1',
          body: '<img src=x onerror=alert(1)>',
          server: 'server-"2"',
          created_at: new Date('2024-01-02T03:04:05Z'),
        },
      ],
      'server-1',
      'form-id',
    );
    assert.ok(!html.includes('<img'));
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
    assert.ok(html.includes('server-&quot;2&quot;'));
    assert.ok(html.includes('2024-01-02T03:04:05.000Z'));
    assert.ok(html.includes('name="id" value="form-id"'));
  });
});

describe('cookies', () => {
  test('a signed value round-trips; a tampered one or another name is rejected', () => {
    const signer = new CookieSigner('secret-secret-secret');
    const signed = signer.sign('gtid', '0-1-42');
    assert.equal(signer.unsign('gtid', signed), '0-1-42');
    assert.equal(signer.unsign('gtid', signed.replace('0-1-42', '0-1-43')), undefined);
    assert.equal(signer.unsign('sid', signed), undefined);
    assert.equal(new CookieSigner('other-secret-secret').unsign('gtid', signed), undefined);
    assert.equal(signer.unsign('gtid', 'garbage'), undefined);
  });

  test('parse and serialise', () => {
    assert.deepEqual(
      [...parseCookies('a=1; b=x.y ;c=')],
      [
        ['a', '1'],
        ['b', 'x.y'],
        ['c', ''],
      ],
    );
    assert.equal(
      serializeCookie('sid', 'v', { maxAgeSeconds: 5, secure: true }),
      'sid=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=5; Secure',
    );
  });
});

describe('passwords', () => {
  test('scrypt hashes verify, are salted, and reject a wrong password', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    assert.notEqual(a, b);
    assert.match(a, /^scrypt\$16384\$8\$1\$/);
    assert.equal(await verifyPassword('correct horse', a), true);
    assert.equal(await verifyPassword('wrong horse', a), false);
    assert.equal(await verifyPassword('x', 'not-a-hash'), false);
  });
});

describe('environment contract', () => {
  const files: Record<string, string> = { '/s/db': 'db-pass\n', '/s/session': 'a-session-secret-of-some-length\n' };
  const readFile = (p: string): string => {
    const v = files[p];
    if (v === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return v;
  };
  const base = {
    TANDEM_HOST: 'server-1',
    TANDEM_APP_ADDRESS: '127.60.0.12',
    TANDEM_APP_PORT: '3000',
    TANDEM_DB_PRIMARY: '127.60.0.13:3306',
    TANDEM_DB_REPLICAS: '127.60.0.12:3306, 127.60.0.14',
    TANDEM_DB_NAME: 'foobar',
    TANDEM_DB_USER: 'foobar',
    TANDEM_DB_PASSWORD_FILE: '/s/db',
    TANDEM_DB_SOURCE_ADDRESS: '127.60.0.12',
    TANDEM_SESSION_SECRET_FILE: '/s/session',
    TANDEM_TRUSTED_PROXIES: '127.60.0.12, 127.60.0.11',
  };

  test('reads every variable, secrets from files', () => {
    const config = loadAppConfig(base, readFile);
    assert.deepEqual(config, {
      host: 'server-1',
      address: '127.60.0.12',
      port: 3000,
      bodyLimit: 65536,
      trustedProxies: ['127.60.0.12', '127.60.0.11'],
      sessionSecret: 'a-session-secret-of-some-length',
      db: {
        primary: { host: '127.60.0.13', port: 3306 },
        replicas: [
          { host: '127.60.0.12', port: 3306 },
          { host: '127.60.0.14', port: 3306 },
        ],
        database: 'foobar',
        user: 'foobar',
        password: 'db-pass',
        coalesceReads: true,
        localAddress: '127.60.0.12',
      },
    });
    // Request collapsing is on unless TANDEM_DB_COALESCE_READS=0.
    assert.equal(loadAppConfig({ ...base, TANDEM_DB_COALESCE_READS: '0' }, readFile).db.coalesceReads, false);
    // The replica lag bound is the client's default unless TANDEM_DB_MAX_REPLICA_LAG_MS sets it.
    assert.equal(loadAppConfig({ ...base, TANDEM_DB_MAX_REPLICA_LAG_MS: '2500' }, readFile).db.maxReplicaLagMs, 2500);
    assert.throws(
      () => loadAppConfig({ ...base, TANDEM_DB_MAX_REPLICA_LAG_MS: '5s' }, readFile),
      /TANDEM_DB_MAX_REPLICA_LAG_MS: should be an integer from 100 to 3600000, got "5s"/,
    );
  });

  test('empty replicas, default body limit, no source address', () => {
    const config = loadAppConfig(
      { ...base, TANDEM_DB_REPLICAS: '', TANDEM_DB_SOURCE_ADDRESS: undefined, TANDEM_BODY_LIMIT: '2048' },
      readFile,
    );
    assert.deepEqual(config.db.replicas, []);
    assert.equal(config.db.localAddress, undefined);
    assert.equal(config.bodyLimit, 2048);
    assert.deepEqual(loadAppConfig({ ...base, TANDEM_TRUSTED_PROXIES: undefined }, readFile).trustedProxies, []);
  });

  test('collects every problem, naming the variable, never the secret', () => {
    assert.throws(
      () =>
        loadAppConfig(
          {
            ...base,
            TANDEM_HOST: '',
            TANDEM_APP_PORT: '70000',
            TANDEM_DB_PRIMARY: 'a b',
            TANDEM_DB_PASSWORD_FILE: '/missing',
            TANDEM_TRUSTED_PROXIES: '127.60.0.11,nginx',
          },
          readFile,
        ),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems, [
          'TANDEM_HOST: required',
          'TANDEM_APP_PORT: should be an integer from 1 to 65535, got "70000"',
          'TANDEM_DB_PRIMARY: should be addr:port, got "a b"',
          'TANDEM_DB_PASSWORD_FILE: cannot read /missing (ENOENT)',
          'TANDEM_TRUSTED_PROXIES: "nginx" is not an IP address',
        ]);
        assert.ok(!err.message.includes('db-pass'));
        return true;
      },
    );
  });
});
