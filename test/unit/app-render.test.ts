/** Pure pieces of the app: HTML escaping, signed cookies, the environment contract. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadAppConfig } from '../../src/app/config.ts';
import { servicePaths } from '../../src/config/paths.ts';
import { resolve } from '../../src/config/resolve.ts';
import { appEnvironment } from '../../src/orchestrate/services.ts';
import cookie from '@fastify/cookie';
import Fastify from 'fastify';
import type { LightMyRequestResponse } from 'fastify';
import { Sessions } from '../../src/app/session.ts';
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

  test('renderHome links the stylesheet, script and icon by their hashed names, with nothing inline', () => {
    const assets = {
      'app.css': '/assets/app.0123abcd.css',
      'app.js': '/assets/app.4567ef01.js',
      'favicon.svg': '/assets/favicon.89abcdef.svg',
    };
    const html = renderHome([], 'server-1', 'form-id', assets);
    assert.ok(html.includes('<link rel="stylesheet" href="/assets/app.0123abcd.css">'));
    assert.ok(html.includes('<script src="/assets/app.4567ef01.js" defer></script>'));
    assert.ok(html.includes('<link rel="icon" type="image/svg+xml" href="/assets/favicon.89abcdef.svg">'));
    // The CSP allows scripts and styles from 'self' only: no inline ones.
    assert.equal(html.match(/<script/g)?.length, 1);
    assert.doesNotMatch(html, /<style|style=|\son[a-z]+=/);
    // Without a manifest the page links no asset and still works.
    assert.doesNotMatch(renderHome([], 'server-1', 'form-id'), /\/assets\//);
  });

  test('renderHome offers sign-up, sign-in and sign-out as plain HTML forms beside posting', () => {
    const html = renderHome([], 'server-1', 'form-id');
    const forms = [...html.matchAll(/<form method="post" action="([^"]+)">(.*?)<\/form>/g)];
    assert.deepEqual(
      forms.map((f) => f[1]),
      ['/signup', '/signin', '/signout', '/posts'],
    );
    for (const [, action, inner] of forms.slice(0, 2)) {
      assert.match(inner!, /<input name="username" required/, action);
      assert.match(inner!, /<input type="password" name="password" required/, action);
    }
  });
});

describe('signed cookies (@fastify/cookie with the shared secret)', () => {
  /** A bare Fastify with the cookie plugin, as buildApp registers it, and Sessions on top. */
  const appWith = (secret: string) => {
    const app = Fastify({ logger: false });
    app.register(cookie, { secret });
    const sessions = new Sessions();
    app.get('/set', async (request, reply) => {
      sessions.setSession(reply, 'session-id-1', request);
      sessions.setGtid(reply, '0-1-42', request);
      return {};
    });
    app.get('/read', async (request) => sessions.read(request));
    return app;
  };
  const cookiesOf = (res: LightMyRequestResponse): Map<string, string> => {
    const raw = res.headers['set-cookie'];
    const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    return new Map(lines.map((l) => l.split(';')[0]!.split('=') as [string, string]));
  };

  test('a signed session and GTID round-trip; tampered values and another secret are rejected', async () => {
    const a = appWith('secret-secret-secret');
    const b = appWith('other-secret-secret');
    try {
      const set = await a.inject({ method: 'GET', url: '/set' });
      const jar = cookiesOf(set);
      assert.match(String(set.headers['set-cookie']), /sid=[^;]+; Max-Age=604800; Path=\/; HttpOnly; SameSite=Lax/);
      const header = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const read = (app: typeof a, cookieHeader: string) =>
        app.inject({ method: 'GET', url: '/read', headers: { cookie: cookieHeader } }).then((r) => r.json());

      assert.deepEqual(await read(a, header), { sessionId: 'session-id-1', minGtid: '0-1-42' });
      assert.deepEqual(await read(a, header.replace('0-1-42', '0-1-43')), { sessionId: 'session-id-1' });
      assert.deepEqual(await read(a, header.replace('session-id-1', 'session-id-2')), { minGtid: '0-1-42' });
      assert.deepEqual(await read(b, header), {});
      assert.deepEqual(await read(a, 'sid=session-id-1; gtid=0-1-42'), {});
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('cookies are Secure when the LB says the request came over HTTPS', async () => {
    const a = appWith('secret-secret-secret');
    try {
      const res = await a.inject({ method: 'GET', url: '/set', headers: { 'x-forwarded-proto': 'https' } });
      const lines = [res.headers['set-cookie']].flat();
      assert.equal(lines.length, 2);
      for (const line of lines) assert.match(String(line), /; Secure/);
    } finally {
      await a.close();
    }
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
  const files: Record<string, string> = {
    '/s/db': 'db-pass\n',
    '/s/session': 'a-session-secret-of-some-length\n',
    '/s/assets.json': '{ "app.css": "/assets/app.0123abcd.css" }\n',
    '/s/bad-assets.json': '{ "app.css": "http://elsewhere/app.css" }\n',
  };
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
      adminPort: 3001,
      bodyLimit: 65536,
      trustedProxies: ['127.60.0.12', '127.60.0.11'],
      sessionSecret: 'a-session-secret-of-some-length',
      assets: {},
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

  test('TANDEM_DB_NODES: every database node; the primary and replicas variables become optional', () => {
    const nodes = '127.60.0.13:3306, 127.60.0.14';
    const config = loadAppConfig(
      { ...base, TANDEM_DB_NODES: nodes, TANDEM_DB_PRIMARY: undefined, TANDEM_DB_REPLICAS: undefined },
      readFile,
    );
    assert.deepEqual(config.db.nodes, [
      { host: '127.60.0.13', port: 3306 },
      { host: '127.60.0.14', port: 3306 },
    ]);
    assert.equal(config.db.primary, undefined);
    assert.deepEqual(config.db.replicas, []);
    // With both, the old variables stay the client's initial guess.
    const both = loadAppConfig({ ...base, TANDEM_DB_NODES: nodes }, readFile);
    assert.deepEqual(both.db.primary, { host: '127.60.0.13', port: 3306 });
    assert.equal(both.db.nodes?.length, 2);
    assert.throws(
      () => loadAppConfig({ ...base, TANDEM_DB_NODES: '127.60.0.13:3306,a b' }, readFile),
      /TANDEM_DB_NODES: should be addr:port, got "a b"/,
    );
    assert.throws(
      () => loadAppConfig({ ...base, TANDEM_DB_PRIMARY: undefined }, readFile),
      /TANDEM_DB_PRIMARY: required/,
    );
  });

  test('the orchestrator hands every app all database nodes, the primary first', () => {
    const plan = resolve({}, { projectDir: '/srv/site', bundledAppDir: '/opt/tandem/src/app' });
    const app = plan.services.find((s) => s.kind === 'app')!;
    const env = appEnvironment(plan, app, servicePaths(app));
    assert.equal(env.TANDEM_DB_NODES, '127.60.0.13:3306,127.60.0.12:3306');
    assert.equal(env.TANDEM_DB_PRIMARY, '127.60.0.13:3306');
    assert.equal(env.TANDEM_ASSETS_MANIFEST, `${servicePaths(app).dir}/assets.json`);
    const config = loadAppConfig(
      {
        ...base,
        ...env,
        TANDEM_DB_PASSWORD_FILE: '/s/db',
        TANDEM_SESSION_SECRET_FILE: '/s/session',
        TANDEM_ASSETS_MANIFEST: '/s/assets.json',
      },
      readFile,
    );
    assert.deepEqual(
      config.db.nodes?.map((n) => n.host),
      ['127.60.0.13', '127.60.0.12'],
    );
  });

  test('TANDEM_ASSETS_MANIFEST: the manifest is read at start; an unreadable or bad one is named', () => {
    const config = loadAppConfig({ ...base, TANDEM_ASSETS_MANIFEST: '/s/assets.json' }, readFile);
    assert.deepEqual(config.assets, { 'app.css': '/assets/app.0123abcd.css' });
    assert.throws(
      () => loadAppConfig({ ...base, TANDEM_ASSETS_MANIFEST: '/s/none.json' }, readFile),
      /TANDEM_ASSETS_MANIFEST: cannot read \/s\/none\.json \(ENOENT\)/,
    );
    assert.throws(
      () => loadAppConfig({ ...base, TANDEM_ASSETS_MANIFEST: '/s/bad-assets.json' }, readFile),
      /TANDEM_ASSETS_MANIFEST: \/s\/bad-assets\.json: app\.css should be a path under \/assets\/, got "http:\/\/elsewhere\/app\.css"/,
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

  test('the private listener takes TANDEM_ADMIN_PORT, and not the public port', () => {
    assert.equal(loadAppConfig({ ...base, TANDEM_ADMIN_PORT: '9101' }, readFile).adminPort, 9101);
    assert.throws(
      () => loadAppConfig({ ...base, TANDEM_ADMIN_PORT: '3000' }, readFile),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.includes('TANDEM_ADMIN_PORT: should differ from TANDEM_APP_PORT (3000)'),
    );
  });
});
