/**
 * The app's HTTP contract that needs no database: validation, limits, status endpoints,
 * error shapes. The db points at a closed port, so anything that reaches it is a 503.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildAdmin } from '../../src/app/admin.ts';
import { buildApp } from '../../src/app/build.ts';

describe('app without a database', () => {
  let app: FastifyInstance;
  let admin: FastifyInstance;

  before(async () => {
    app = buildApp({
      host: 'server-1',
      sessionSecret: 'unit-test-secret-0123456789',
      bodyLimit: 4096,
      logger: false,
      db: {
        primary: { host: '127.0.0.1', port: 1 },
        replicas: [],
        user: 'u',
        password: 'p',
        database: 'd',
        connectTimeoutMs: 200,
      },
    });
    admin = buildAdmin(app);
    await admin.ready();
  });
  after(() => Promise.all([app.close(), admin.close()]));

  test('GET /whoami names the server and nothing about its process, without the db', async () => {
    const res = await app.inject({ method: 'GET', url: '/whoami' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { server: 'server-1' });
    assert.equal(res.headers['x-release'], undefined, 'no release outside `tandem deploy`');
  });

  test('a process that runs a release names it in x-release on every answer and in /whoami', async () => {
    const released = buildApp({
      host: 'server-1',
      release: '20261125T061500Z-abc1234',
      sessionSecret: 'unit-test-secret-0123456789',
      logger: false,
      db: {
        primary: { host: '127.0.0.1', port: 1 },
        replicas: [],
        user: 'u',
        password: 'p',
        database: 'd',
        connectTimeoutMs: 200,
      },
    });
    try {
      const whoami = await released.inject({ method: 'GET', url: '/whoami' });
      assert.deepEqual(whoami.json(), { server: 'server-1', release: '20261125T061500Z-abc1234' });
      const missing = await released.inject({ method: 'GET', url: '/no-such-page' });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.headers['x-release'], '20261125T061500Z-abc1234');
    } finally {
      await released.close();
    }
  });

  test('the public listener serves no health, readiness or metrics endpoint', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
    }
  });

  test('GET /healthz on the private listener is 200 while the process lives', async () => {
    const res = await admin.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
  });

  test('GET /readyz on the private listener is 503 when no database answers', async () => {
    const res = await admin.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().ready, false);
    // no node answered the primary probe: no writable primary is known
    assert.equal(res.json().db.primaryState, 'unknown');
    assert.equal(res.json().db.primaryServer, '127.0.0.1:1');
  });

  test('a read with the database down is a 503 JSON error', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/posts' });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'message']);
    assert.equal(res.json().error, 'DB_UNAVAILABLE');
    assert.equal(res.headers['retry-after'], '1');
  });

  const badBodies: [string, string, unknown][] = [
    ['/posts', 'missing body', {}],
    ['/posts', 'empty body', { body: '' }],
    ['/posts', 'body over 2000 chars', { body: 'x'.repeat(2001) }],
    ['/posts', 'unknown field', { body: 'hi', admin: true }],
    ['/posts', 'id over 64 chars', { id: 'a'.repeat(65), body: 'hi' }],
    ['/posts', 'id with spaces', { id: 'a b', body: 'hi' }],
    ['/signup', 'short username', { username: 'ab', password: 'long enough' }],
    ['/signup', 'upper-case username', { username: 'Alice', password: 'long enough' }],
    ['/signup', 'short password', { username: 'alice', password: 'short' }],
    ['/signin', 'password over 200 chars', { username: 'alice', password: 'x'.repeat(201) }],
    ['/signin', 'unknown field', { username: 'alice', password: 'long enough', remember: true }],
  ];
  for (const [url, what, payload] of badBodies) {
    test(`POST ${url} with ${what} is 400`, async () => {
      const res = await app.inject({ method: 'POST', url, payload: payload as object });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().error, 'VALIDATION');
      assert.equal(typeof res.json().message, 'string');
    });
  }

  test('form posts are validated by the same schema', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/posts',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'body=&id=x',
    });
    assert.equal(res.statusCode, 400);
  });

  test('a failed plain HTML form gets a page that says why, under its status; a JSON client gets JSON', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const bad = await app.inject({ method: 'POST', url: '/signin', headers: form, payload: 'username=ab&password=x' });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.match(String(bad.headers['content-type']), /^text\/html/);
    assert.match(bad.body, /<p class="error" role="alert">body\/\w+ must /);
    assert.match(bad.body, /<a href="\/">Back to the page<\/a>/);
    const credentials = 'username=alice_1&password=correct-horse-battery';
    const away = await app.inject({ method: 'POST', url: '/signin', headers: form, payload: credentials });
    assert.equal(away.statusCode, 503, away.body);
    assert.equal(away.headers['retry-after'], '1');
    assert.match(away.body, /role="alert">database unavailable, try again</);
    const json = await app.inject({
      method: 'POST',
      url: '/signin',
      payload: { username: 'alice_1', password: 'correct-horse-battery' },
    });
    assert.equal(json.statusCode, 503);
    assert.equal(json.json().error, 'DB_UNAVAILABLE');
  });

  test('a body over the limit is 413', async () => {
    const res = await app.inject({ method: 'POST', url: '/posts', payload: { body: 'x'.repeat(5000) } });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().error, 'FST_ERR_CTP_BODY_TOO_LARGE');
  });

  test('an unsupported content type is 415', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/posts',
      headers: { 'content-type': 'application/xml' },
      payload: '<hi/>',
    });
    assert.equal(res.statusCode, 415);
  });

  test('bad path and query parameters are 400', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/posts/a%20b' })).statusCode, 400);
    assert.equal((await app.inject({ method: 'GET', url: '/api/posts?limit=0' })).statusCode, 400);
    assert.equal((await app.inject({ method: 'GET', url: '/api/posts?limit=5&x=1' })).statusCode, 400);
  });

  test('/me without a session is 401; a forged session cookie is ignored', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/me' })).statusCode, 401);
    const forged = await app.inject({ method: 'GET', url: '/me', headers: { cookie: 'sid=abc.def' } });
    assert.equal(forged.statusCode, 401);
  });

  test('sign-out from the plain HTML form clears the session and redirects to the page; JSON gets JSON', async () => {
    const form = await app.inject({
      method: 'POST',
      url: '/signout',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: '',
    });
    assert.equal(form.statusCode, 303, form.body);
    assert.equal(form.headers.location, '/');
    assert.match(String(form.headers['set-cookie']), /sid=; Max-Age=0/);
    const json = await app.inject({ method: 'POST', url: '/signout' });
    assert.equal(json.statusCode, 200);
    assert.deepEqual(json.json(), { ok: true });
  });

  test('unknown routes are 404 JSON', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope' });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error, 'NOT_FOUND');
  });

  test('/metrics on the private listener exposes default metrics and public requests by route and status', async () => {
    await app.inject({ method: 'GET', url: '/whoami' });
    const res = await admin.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /process_cpu_user_seconds_total/);
    assert.match(res.body, /http_requests_total\{method="GET",route="\/whoami",status="200",server="server-1"\} \d+/);
    assert.match(
      res.body,
      /http_request_duration_seconds_bucket\{le="0.001",server="server-1",method="GET",route="\/whoami",status="200"\}/,
    );
  });

  test('keep-alive outlives nginx upstream keepalive', () => {
    assert.equal(app.server.keepAliveTimeout, 65_000);
  });
});
