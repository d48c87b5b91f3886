/**
 * The foobar.com app against a real MariaDB primary + replica: migrations, sessions
 * across two app instances, idempotent posts, read-your-writes through the GTID cookie,
 * and the real entry points (migrate.ts, server.ts) as the supervisor runs them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildAdmin } from '../../src/app/admin.ts';
import { buildApp } from '../../src/app/build.ts';
import type { DbOptions } from '../../src/db/index.ts';
import { type Cluster, eventually, startCluster } from '../support/mariadb.ts';

const APP_DIR = join(import.meta.dirname, '../../src/app');
const options = {
  primaryAddress: '127.61.2.11',
  replicaAddress: '127.61.2.12',
  database: 'foobar',
  user: 'foobar',
  password: 'foobar-pass',
  userHost: '127.61.2.%',
};
const SOURCE_ADDRESS = '127.61.2.10';

/** Collects cookies from responses, like a browser would. */
class Jar {
  private readonly cookies = new Map<string, string>();

  take(res: LightMyRequestResponse): this {
    const raw = res.headers['set-cookie'];
    for (const line of raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      if (/Max-Age=0/.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, pair!.slice(eq + 1));
    }
    return this;
  }

  get header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  has(name: string): boolean {
    return this.cookies.has(name);
  }
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs an app entry from src/app, as the supervisor does; bounded in time. */
function runEntry(file: string, env: Record<string, string>, timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: APP_DIR,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('foobar.com app on MariaDB', () => {
  let cluster: Cluster | undefined;
  let appA: FastifyInstance | undefined;
  let appB: FastifyInstance | undefined;
  let env: Record<string, string>;
  let db: DbOptions;

  before(async () => {
    cluster = await startCluster(options);
    const passwordFile = join(cluster.root, 'db-password');
    const secretFile = join(cluster.root, 'session-secret');
    await writeFile(passwordFile, `${options.password}\n`, { mode: 0o600 });
    await writeFile(secretFile, 'integration-session-secret-0123456789\n', { mode: 0o600 });
    env = {
      TANDEM_HOST: 'server-1',
      TANDEM_APP_ADDRESS: '127.61.2.10',
      TANDEM_APP_PORT: '0',
      TANDEM_DB_PRIMARY: `${options.primaryAddress}:3306`,
      TANDEM_DB_REPLICAS: `${options.replicaAddress}:3306`,
      TANDEM_DB_NAME: options.database,
      TANDEM_DB_USER: options.user,
      TANDEM_DB_PASSWORD_FILE: passwordFile,
      TANDEM_DB_SOURCE_ADDRESS: SOURCE_ADDRESS,
      TANDEM_SESSION_SECRET_FILE: secretFile,
    };
    const migrated = await runEntry('migrate.ts', env);
    assert.equal(migrated.code, 0, migrated.stderr);

    db = {
      primary: { host: options.primaryAddress },
      replicas: [{ host: options.replicaAddress }],
      user: options.user,
      password: options.password,
      database: options.database,
      localAddress: SOURCE_ADDRESS,
      gtidWaitTimeoutMs: 300,
    };
    const secret = 'integration-session-secret-0123456789';
    appA = buildApp({ host: 'server-1', sessionSecret: secret, db, logger: false });
    appB = buildApp({ host: 'server-2', sessionSecret: secret, db, logger: false });
    await Promise.all([appA.ready(), appB.ready()]);
  });

  after(async () => {
    await Promise.allSettled([appA?.close(), appB?.close()]);
    await cluster?.destroy();
  });

  test('migrate is idempotent, and fails clearly with a bad password', async () => {
    const again = await runEntry('migrate.ts', env);
    assert.equal(again.code, 0, again.stderr);
    const files = readdirSync(join(APP_DIR, 'migrations')).filter((f) => f.endsWith('.sql'));
    assert.ok(files.length >= 2, `migrations: ${files}`);
    assert.match(again.stdout, new RegExp(`is current \\(0 applied, ${files.length} already\\)`));
    assert.equal(
      await cluster!.primary.sql(`SELECT COUNT(*) FROM ${options.database}.schema_migrations`),
      String(files.length),
    );

    const badFile = join(cluster!.root, 'bad-password');
    await writeFile(badFile, 'wrong');
    const bad = await runEntry('migrate.ts', { ...env, TANDEM_DB_PASSWORD_FILE: badFile });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /migrate: cannot connect to the primary 127\.61\.2\.11:3306 as foobar: Access denied/);
    assert.ok(!bad.stderr.includes('wrong'.repeat(1) + '\n'));
  });

  test('sign-up on one server, session valid on the other, sign-out everywhere', async () => {
    const jar = new Jar();
    const creds = { username: 'alice_1', password: 'correct horse battery' };
    const signup = await appA!.inject({ method: 'POST', url: '/signup', payload: creds });
    assert.equal(signup.statusCode, 201, signup.body);
    jar.take(signup);
    assert.ok(jar.has('sid') && jar.has('gtid'));

    const meB = await appB!.inject({ method: 'GET', url: '/me', headers: { cookie: jar.header } });
    assert.equal(meB.statusCode, 200, meB.body);
    assert.equal(meB.json().username, 'alice_1');

    const taken = await appB!.inject({ method: 'POST', url: '/signup', payload: creds });
    assert.equal(taken.statusCode, 409);
    assert.equal(taken.json().error, 'USERNAME_TAKEN');

    const wrong = await appB!.inject({
      method: 'POST',
      url: '/signin',
      payload: { ...creds, password: 'wrong password' },
    });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().error, 'INVALID_CREDENTIALS');
    // The same two failures from the page's plain forms: a page that says why.
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const formCreds = `username=${creds.username}&password=`;
    const takenPage = await appB!.inject({
      method: 'POST',
      url: '/signup',
      headers: form,
      payload: `${formCreds}${encodeURIComponent(creds.password)}`,
    });
    assert.equal(takenPage.statusCode, 409);
    assert.match(takenPage.body, /role="alert">username alice_1 is taken</);
    const wrongPage = await appB!.inject({
      method: 'POST',
      url: '/signin',
      headers: form,
      payload: `${formCreds}wrong+password`,
    });
    assert.equal(wrongPage.statusCode, 401);
    assert.match(String(wrongPage.headers['content-type']), /^text\/html/);
    assert.match(wrongPage.body, /role="alert">wrong username or password</);

    const jar2 = new Jar();
    const signin = await appB!.inject({ method: 'POST', url: '/signin', payload: creds });
    assert.equal(signin.statusCode, 200);
    jar2.take(signin);
    assert.equal(
      (await appA!.inject({ method: 'GET', url: '/me', headers: { cookie: jar2.header } })).json().username,
      'alice_1',
    );

    const signout = await appA!.inject({ method: 'POST', url: '/signout', headers: { cookie: jar2.header } });
    assert.equal(signout.statusCode, 200);
    const staleSid = jar2.get('sid');
    jar2.take(signout);
    assert.ok(!jar2.has('sid'));
    // Even replaying the old session id on the other server (with the sign-out's GTID
    // token, which the same browser now holds): the session is gone.
    const replay = `${jar2.header}; sid=${staleSid}`;
    assert.equal((await appB!.inject({ method: 'GET', url: '/me', headers: { cookie: replay } })).statusCode, 401);
    // The first session is untouched.
    assert.equal((await appB!.inject({ method: 'GET', url: '/me', headers: { cookie: jar.header } })).statusCode, 200);
  });

  test('sign-in failures count across both servers: the 11th from one address is 429, the owner elsewhere signs in', async () => {
    const creds = { username: 'target_1', password: 'correct horse battery' };
    assert.equal((await appA!.inject({ method: 'POST', url: '/signup', payload: creds })).statusCode, 201);
    const signin = (app: FastifyInstance, password: string, remoteAddress: string) =>
      app.inject({ method: 'POST', url: '/signin', payload: { ...creds, password }, remoteAddress });

    // Round robin: the attempts alternate between the two servers.
    const answers = [];
    for (let i = 0; i < 14; i++) answers.push(await signin(i % 2 ? appB! : appA!, 'wrong password', '127.61.2.200'));
    assert.deepEqual(
      answers.map((a) => a.statusCode),
      [...Array(10).fill(401), ...Array(4).fill(429)],
    );
    const refused = answers.at(-1)!;
    assert.equal(refused.json().error, 'TOO_MANY_FAILED_SIGNINS');
    const wait = Number(refused.headers['retry-after']);
    assert.ok(Number.isInteger(wait) && wait >= 55 && wait <= 60, `Retry-After: ${refused.headers['retry-after']}`);
    // Refused attempts are not recorded: only the ten failures are.
    assert.equal(
      await cluster!.primary.sql(
        `SELECT COUNT(*) FROM ${options.database}.signin_failures WHERE username = 'target_1'`,
      ),
      '10',
    );

    // Even the right password is refused from the throttled address, not from another one.
    assert.equal((await signin(appA!, creds.password, '127.61.2.200')).statusCode, 429);
    assert.equal((await signin(appB!, creds.password, '127.61.2.201')).statusCode, 200);
  });

  test('one address failing over many usernames is throttled after 30 failures', async () => {
    const statuses = [];
    for (let i = 0; i < 32; i++) {
      const payload = { username: `nobody_${i}`, password: 'wrong password' };
      const app = i % 2 ? appB! : appA!;
      statuses.push(
        (await app.inject({ method: 'POST', url: '/signin', payload, remoteAddress: '127.61.2.202' })).statusCode,
      );
    }
    assert.deepEqual(statuses, [...Array(30).fill(401), 429, 429]);
  });

  test('a username failing from many addresses: addresses that failed it are refused, a fresh one still tries', async () => {
    // Small limits, so that a handful of addresses shows the per-username rule.
    const limits = { perAddressAndUser: 10, perAddress: 30, perUser: 5, windowSeconds: 60 };
    const app = buildApp({ host: 'server-3', sessionSecret: 'x'.repeat(32), db, logger: false, signinLimits: limits });
    try {
      const creds = { username: 'target_2', password: 'correct horse battery' };
      assert.equal((await app.inject({ method: 'POST', url: '/signup', payload: creds })).statusCode, 201);
      const signin = (password: string, remoteAddress: string) =>
        app.inject({ method: 'POST', url: '/signin', payload: { ...creds, password }, remoteAddress });
      const first = [];
      for (let i = 0; i < 5; i++) first.push((await signin('wrong password', `127.61.3.${i + 1}`)).statusCode);
      assert.deepEqual(first, Array(5).fill(401));

      const again = await signin('wrong password', '127.61.3.1');
      assert.equal(again.statusCode, 429, 'an address that already failed this username');
      assert.ok(Number(again.headers['retry-after']) >= 55);
      assert.equal((await signin('wrong password', '127.61.3.6')).statusCode, 401, 'a fresh address gets its guess');
      assert.equal((await signin('wrong password', '127.61.3.6')).statusCode, 429, 'and only one');
      assert.equal((await signin(creds.password, '127.61.3.7')).statusCode, 200, 'the owner from elsewhere');
    } finally {
      await app.close();
    }
  });

  test('a client-supplied post id makes the write idempotent across servers', async () => {
    const post = { id: 'retry-me-1', body: 'hello once' };
    const first = await appA!.inject({ method: 'POST', url: '/posts', payload: post });
    assert.equal(first.statusCode, 201);
    assert.deepEqual(first.json(), { id: 'retry-me-1', server: 'server-1', created: true });
    const retry = await appB!.inject({ method: 'POST', url: '/posts', payload: post });
    assert.equal(retry.statusCode, 201);
    assert.deepEqual(retry.json(), { id: 'retry-me-1', server: 'server-2', created: false });
    assert.equal(
      await cluster!.primary.sql(`SELECT COUNT(*) FROM ${options.database}.posts WHERE uid = 'retry-me-1'`),
      '1',
    );

    const conflict = await appB!.inject({
      method: 'POST',
      url: '/posts',
      payload: { id: 'retry-me-1', body: 'something else' },
    });
    assert.equal(conflict.statusCode, 409);
  });

  test('an Idempotency-Key names the post: replayed on the other server it is stored once; a mismatch is refused', async () => {
    const key = 'keyed-post-1';
    const headers = { 'idempotency-key': key };
    const first = await appA!.inject({ method: 'POST', url: '/posts', headers, payload: { body: 'keyed' } });
    assert.equal(first.statusCode, 201, first.body);
    assert.deepEqual(first.json(), { id: key, server: 'server-1', created: true });
    const replay = await appB!.inject({ method: 'POST', url: '/posts', headers, payload: { id: key, body: 'keyed' } });
    assert.equal(replay.statusCode, 201, replay.body);
    assert.deepEqual(replay.json(), { id: key, server: 'server-2', created: false });
    assert.equal(
      await cluster!.primary.sql(`SELECT COUNT(*) FROM ${options.database}.posts WHERE uid = '${key}'`),
      '1',
    );

    const mismatch = await appB!.inject({
      method: 'POST',
      url: '/posts',
      headers,
      payload: { id: 'other', body: 'x' },
    });
    assert.equal(mismatch.statusCode, 400);
    assert.equal(mismatch.json().error, 'BAD_IDEMPOTENCY_KEY');
    const malformed = await appB!.inject({
      method: 'POST',
      url: '/posts',
      headers: { 'idempotency-key': 'no spaces allowed' },
      payload: { body: 'x' },
    });
    assert.equal(malformed.statusCode, 400);
  });

  test('read-your-writes: the GTID cookie makes the other server wait or read the primary', async () => {
    // A replica that lags (within the client's bound, so it stays in the rotation).
    await cluster!.delayReplication(60);
    try {
      await eventually(async () => (await appB!.db.health()).replicas.every((r) => r.healthy), 'replica in rotation');
      const jar = new Jar();
      const res = await appA!.inject({ method: 'POST', url: '/posts', payload: { id: 'ryw-1', body: 'see me' } });
      assert.equal(res.statusCode, 201);
      jar.take(res);
      // Without the token the lagging replica answers: not there yet.
      assert.equal((await appB!.inject({ method: 'GET', url: '/posts/ryw-1' })).statusCode, 404);
      // With it, server-2 serves the user their own write.
      const mine = await appB!.inject({ method: 'GET', url: '/posts/ryw-1', headers: { cookie: jar.header } });
      assert.equal(mine.statusCode, 200);
      assert.equal(mine.json().body, 'see me');
      const list = await appB!.inject({ method: 'GET', url: '/api/posts?limit=5', headers: { cookie: jar.header } });
      assert.ok(list.json().posts.some((p: { id: string }) => p.id === 'ryw-1'));
    } finally {
      await cluster!.delayReplication(0);
    }
  });

  test('a form post redirects home, and the home page shows it escaped', async () => {
    const jar = new Jar();
    const res = await appA!.inject({
      method: 'POST',
      url: '/posts',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ id: 'form-1', body: '<b>bold</b> & more' }).toString(),
    });
    assert.equal(res.statusCode, 303);
    assert.equal(res.headers.location, '/');
    jar.take(res);
    const home = await appB!.inject({ method: 'GET', url: '/', headers: { cookie: jar.header } });
    assert.equal(home.statusCode, 200);
    assert.match(String(home.headers['content-type']), /^text\/html/);
    assert.ok(home.body.includes('&lt;b&gt;bold&lt;/b&gt; &amp; more'));
    assert.ok(home.body.includes('served by server-2'));
  });

  test('readyz on the private listener is 200 with the database up', async () => {
    const admin = buildAdmin(appA!);
    try {
      const res = await admin.inject({ method: 'GET', url: '/readyz' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json().db.primary, true);
    } finally {
      await admin.close();
    }
  });

  test('server.ts listens from src/app with the env contract and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
      cwd: APP_DIR,
      env: { ...process.env, ...env, TANDEM_APP_PORT: '39123', TANDEM_ADMIN_PORT: '39124' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 20_000;
      for (let i = 0; i < 200 && Date.now() < deadline && !stdout.includes('listening'); i++) {
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(
        stdout,
        /server-1: listening on http:\/\/127\.61\.2\.10:39123, health and metrics on http:\/\/127\.61\.2\.10:39124/,
        stderr,
      );
      const who = await fetch('http://127.61.2.10:39123/whoami');
      assert.equal((await who.json()).server, 'server-1');
      const home = await fetch('http://127.61.2.10:39123/');
      assert.equal(home.status, 200);
      // Health, readiness and metrics on the private listener only.
      assert.equal((await fetch('http://127.61.2.10:39124/readyz')).status, 200);
      assert.match(await (await fetch('http://127.61.2.10:39124/metrics')).text(), /http_requests_total/);
      assert.equal((await fetch('http://127.61.2.10:39123/readyz')).status, 404);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
