/**
 * The whole design on loopback hosts with real HAProxy, nginx, MariaDB and the
 * foobar.com app, driven through the `tandem` CLI.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { StackConfig } from '../../src/config/types.ts';
import { failed, runLoad } from '../support/load.ts';
import { processesUsing, serviceOf, sleep, TestStack } from '../support/stack.ts';

const CONFIG: StackConfig = { name: 'itest', hosting: 'loopback', network: { subnet: '127.63.0.0/24' } };
const stack = new TestStack('stack', CONFIG);
const LB = 'http://127.63.0.11';
const HOST = 'www.foobar.com';

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${LB}${path}`, { headers: { host: HOST, ...headers }, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** One GET through the LB with node:http: the body's bytes as sent (fetch would decompress them). */
function rawGet(path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = http.get(`${LB}${path}`, { headers: { host: HOST, ...headers }, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in 5 s`)));
    req.on('error', reject);
  });
}

/** The `name=value` pairs of a response's Set-Cookie headers, as a Cookie header. */
const cookiesOf = (res: Response): string =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');

describe('tandem up (loopback hosts, real engines)', { timeout: 600_000 }, () => {
  let firstUp = '';
  before(async () => {
    firstUp = (await stack.up()).stdout;
  });
  after(async () => {
    await stack.cleanup();
    assert.deepEqual(processesUsing(stack.dir), [], 'no process of the stack is left');
  });

  it('ends by printing the site URL, after steps for every service', () => {
    assert.match(firstUp, /site: http:\/\/127\.63\.0\.11\//);
    for (const id of ['server-2/mariadb', 'server-1/mariadb', 'server-1/app', 'server-2/nginx', 'lb-1/haproxy']) {
      assert.match(firstUp, new RegExp(`✓ ${id}`));
    }
  });

  it('keeps secrets in 0600 files, and no password reaches a binlog, a config or the output', async () => {
    const state = path.join(stack.dir, '.tandem');
    const secrets = JSON.parse(fs.readFileSync(path.join(state, 'secrets.json'), 'utf8')) as Record<string, string>;
    assert.equal(fs.statSync(path.join(state, 'secrets.json')).mode & 0o777, 0o600);
    for (const host of ['server-1', 'server-2']) {
      assert.equal(fs.statSync(path.join(state, 'hosts', host, 'app', 'db-password')).mode & 0o777, 0o600);
    }
    const files = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) return files(p);
        return /(binlog|relay-bin)\.\d+$|\.(cnf|cfg|conf|json|log)$/.test(e.name) ? [p] : [];
      });
    const leaks = files(path.join(state, 'hosts')).filter((f) => {
      if (f.endsWith('secrets.json')) return false;
      const text = fs.readFileSync(f, 'latin1');
      return Object.values(secrets).some((secret) => text.includes(secret));
    });
    assert.deepEqual(leaks, []);
    assert.ok(!Object.values(secrets).some((secret) => firstUp.includes(secret)));
    // status --json and plan (its output and the folder it renders into) hold none either.
    const outputs = await Promise.all([stack.run('status', '--json'), stack.run('plan', '--json')]);
    for (const r of outputs) assert.equal(r.code, 0, r.stderr);
    const planned = (JSON.parse(outputs[1].stdout) as { files: { rendered: string }[] }).files;
    assert.ok(planned.length > 0);
    const shown = [...outputs.map((r) => r.stdout), ...planned.map((f) => fs.readFileSync(f.rendered, 'utf8'))];
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(!shown.some((text) => text.includes(secret)), `status or plan shows ${name}`);
    }
  });

  it('round-robins successive requests between server-1 and server-2', async () => {
    const servers: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await get('/whoami');
      assert.equal(r.status, 200);
      servers.push((JSON.parse(r.body) as { server: string }).server);
    }
    for (let i = 1; i < servers.length; i++)
      assert.notEqual(servers[i], servers[i - 1], `alternation broke: ${servers}`);
    assert.deepEqual(new Set(servers), new Set(['server-1', 'server-2']));
  });

  it('through the LB, internal paths are 404 from HAProxy; the app serves them on its private listener', async () => {
    for (const p of ['/metrics', '/readyz', '/healthz', '/nginx_status']) {
      const r = await get(p);
      assert.equal(r.status, 404, p);
      assert.equal(r.body, 'Not Found', p);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', p);
    }
    const apps = (await stack.status()).hosts.filter((h) => h.services.some((s) => s.id === `${h.name}/app`));
    assert.equal(apps.length, 2);
    for (const h of apps) {
      const ready = await fetch(`http://${h.address}:3001/readyz`, { signal: AbortSignal.timeout(5000) });
      assert.equal(ready.status, 200, `${h.name} /readyz on the private listener`);
      const who = await fetch(`http://${h.address}:3000/whoami`, { signal: AbortSignal.timeout(5000) });
      assert.deepEqual(await who.json(), { server: h.name });
    }
  });

  it('nginx serves the hashed assets from disk: immutable, typed, gzip from the .gz copy; the page links them', async () => {
    const assetsDir = path.join(stack.dir, '.tandem', 'hosts', 'server-1', 'assets');
    const manifest = JSON.parse(fs.readFileSync(path.join(assetsDir, 'assets.json'), 'utf8')) as Record<string, string>;
    const types: Record<string, RegExp> = {
      'app.css': /^text\/css\b/,
      'app.js': /^(application|text)\/javascript\b/,
      'favicon.svg': /^image\/svg\+xml\b/,
    };
    assert.deepEqual(Object.keys(manifest).sort(), Object.keys(types));
    const home = await get('/');
    assert.equal(home.status, 200);
    for (const [name, url] of Object.entries(manifest)) {
      assert.match(url, /^\/assets\/[a-z]+\.[0-9a-f]{8}\.[a-z]+$/, name);
      assert.ok(home.body.includes(`"${url}"`), `the home page links ${url}`);
      const plain = await rawGet(url, { 'accept-encoding': 'identity' });
      assert.equal(plain.status, 200, url);
      assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable', url);
      assert.match(String(plain.headers['content-type']), types[name]!, url);
      assert.equal(plain.headers['content-encoding'], undefined, url);
      // No app answered: the apps put x-served-by on every response.
      assert.equal(plain.headers['x-served-by'], undefined, url);
      assert.equal(plain.headers['x-content-type-options'], 'nosniff', url);
      assert.ok(
        plain.body.equals(fs.readFileSync(path.join(assetsDir, path.basename(url)))),
        `${url}: the file's bytes`,
      );
      const gz = await rawGet(url, { 'accept-encoding': 'gzip' });
      assert.equal(gz.status, 200, url);
      assert.equal(gz.headers['content-encoding'], 'gzip', url);
      assert.match(String(gz.headers.vary), /Accept-Encoding/i, url);
      assert.equal(gz.headers['cache-control'], 'public, max-age=31536000, immutable', url);
      assert.ok(
        gz.body.equals(fs.readFileSync(path.join(assetsDir, `${path.basename(url)}.gz`))),
        `${url}: the .gz file`,
      );
      assert.ok(gunzipSync(gz.body).equals(plain.body), `${url}: the .gz copy holds the same bytes`);
      process.stdout.write(
        `# ${url}: ${plain.headers['content-type']}, ${plain.body.length} B, gzip ${gz.body.length} B\n`,
      );
    }
  });

  it('a missing asset is nginx’s 404, with a body, and no app sees the request', async () => {
    const apps = (await stack.status()).hosts.filter((h) => h.services.some((s) => s.id === `${h.name}/app`));
    assert.equal(apps.length, 2);
    /** Requests the apps' public listeners answered so far (their http_requests_total). */
    const appRequests = async () => {
      let total = 0;
      for (const h of apps) {
        const text = await (
          await fetch(`http://${h.address}:3001/metrics`, { signal: AbortSignal.timeout(5000) })
        ).text();
        for (const m of text.matchAll(/^http_requests_total\{[^}]*\} (\d+)$/gm)) total += Number(m[1]);
      }
      return total;
    };
    const before = await appRequests();
    // The counter moves when an app answers, even a 404: proven with the app's own 404 first.
    const unknown = await get('/no-such-page');
    assert.equal(unknown.status, 404);
    const afterAppPage = await appRequests();
    assert.equal(afterAppPage, before + 1, 'the app counted its own 404');
    for (const p of ['/assets/app.00000000.css', '/assets/nothing-here.js', '/assets/']) {
      const r = await get(p);
      assert.equal(r.status, 404, p);
      assert.match(r.body, /404 Not Found/, p);
      assert.equal(r.headers.get('x-served-by'), null, p);
      assert.equal(r.headers.get('cache-control'), null, `${p}: a 404 is not cached forever`);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', p);
    }
    assert.equal(await appRequests(), afterAppPage, 'no app saw a request for a missing asset');
  });

  it('sign-up, sign-in and sign-out work through the plain HTML forms, without script', async () => {
    const username = `form_${Date.now()}`;
    const credentials = new URLSearchParams({ username, password: 'correct horse battery' }).toString();
    const form = { host: HOST, 'content-type': 'application/x-www-form-urlencoded' };
    const submit = (action: string, body: string, cookie = '') =>
      fetch(`${LB}${action}`, {
        method: 'POST',
        headers: { ...form, ...(cookie ? { cookie } : {}) },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(5000),
      });
    const me = async (cookie: string) => {
      const r = await get('/me', { cookie });
      return r.status === 200 ? (JSON.parse(r.body) as { username: string }).username : r.status;
    };

    const signup = await submit('/signup', credentials);
    assert.equal(signup.status, 303, await signup.text());
    assert.equal(signup.headers.get('location'), '/');
    const signedUp = cookiesOf(signup);
    assert.match(signedUp, /sid=/);
    // The browser follows the redirect with a GET, cookie and all.
    const page = await get('/', { cookie: signedUp });
    assert.equal(page.status, 200);
    assert.match(page.body, /action="\/signin"/);
    assert.equal(await me(signedUp), username);

    const signin = await submit('/signin', credentials);
    assert.equal(signin.status, 303, await signin.text());
    assert.equal(signin.headers.get('location'), '/');
    const signedIn = cookiesOf(signin);
    assert.equal(await me(signedIn), username);

    const signout = await submit('/signout', '', signedIn);
    assert.equal(signout.status, 303, await signout.text());
    // With the sign-out's GTID token, as a browser would send it: a replica that has not
    // applied the delete yet is not asked.
    const sid = signedIn.split('; ').find((c) => c.startsWith('sid='));
    const token = cookiesOf(signout)
      .split('; ')
      .find((c) => c.startsWith('gtid='));
    assert.ok(sid && token, `${signedIn} | ${cookiesOf(signout)}`);
    assert.equal(await me(`${sid}; ${token}`), 401, 'the session is gone after sign-out');
    assert.equal(await me(signedUp), username, 'the other session lives on');
  });

  it('a post written through the LB is readable from both servers and the replica catches up', async () => {
    const id = `itest-${Date.now()}`;
    const res = await fetch(`${LB}/posts`, {
      method: 'POST',
      headers: { host: HOST, 'content-type': 'application/json' },
      body: JSON.stringify({ id, body: 'hello from the test' }),
    });
    assert.equal(res.status, 201);
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await get(`/posts/${id}`, { cookie });
      assert.equal(r.status, 200, r.body);
      assert.equal((JSON.parse(r.body) as { body: string }).body, 'hello from the test');
      seen.add(r.headers.get('x-served-by') ?? '');
    }
    assert.deepEqual(seen, new Set(['server-1', 'server-2']));
    // The replica's GTID position reaches the primary's.
    let status = await stack.status();
    for (let i = 0; i < 50 && status.db.replication.lagTransactions !== 0; i++) {
      await sleep(100);
      status = await stack.status();
    }
    const [primary, replica] = [
      status.db.instances.find((d) => d.role === 'primary'),
      status.db.instances.find((d) => d.role === 'replica'),
    ];
    assert.equal(status.db.primary, 'server-2');
    assert.equal(status.db.replication.running, true);
    assert.equal(status.db.replication.lagTransactions, 0);
    assert.ok(primary?.gtid && primary.gtid === replica?.gtid, `primary ${primary?.gtid} vs replica ${replica?.gtid}`);
    assert.equal(replica?.readOnly, true);
    assert.equal(primary?.semiSync, true);
  });

  it('kill -9 of one app process under load: 0 failed requests, and the supervisor brings it back', async () => {
    const before = serviceOf(await stack.status(), 'server-1/app');
    assert.equal(before.state, 'running');
    const load = runLoad({
      url: LB,
      host: HOST,
      paths: ['/whoami', '/'],
      concurrency: 8,
      durationMs: 6000,
      maxRequests: 20_000,
    });
    await sleep(1500);
    process.kill(before.pid!, 'SIGKILL');
    const outcomes = await load;
    const bad = failed(outcomes);
    assert.ok(outcomes.length > 500, `only ${outcomes.length} requests ran`);
    assert.equal(bad.length, 0, `${bad.length} of ${outcomes.length} failed: ${JSON.stringify(bad.slice(0, 3))}`);
    let now = serviceOf(await stack.status(), 'server-1/app');
    for (let i = 0; i < 50 && now.state !== 'running'; i++) {
      await sleep(200);
      now = serviceOf(await stack.status(), 'server-1/app');
    }
    assert.equal(now.state, 'running');
    assert.notEqual(now.pid, before.pid);
    assert.ok(now.restarts >= 1);
  });

  it('up a second time changes nothing and says so', async () => {
    const r = await stack.run('up');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /nothing to change/);
    assert.doesNotMatch(r.stdout, /✓/);
  });

  it('plan shows a config change as a diff; up applies it by reloading HAProxy only', async () => {
    const same = await stack.run('plan');
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /no differences from what runs/);
    stack.writeConfig({ ...CONFIG, lb: { balance: 'leastconn' } });
    const planned = await stack.run('plan');
    assert.match(planned.stdout, /changed +lb-1\/haproxy +hosts\/lb-1\/haproxy\/haproxy\.cfg/);
    assert.match(planned.stdout, /^ +- +balance roundrobin$/m);
    assert.match(planned.stdout, /^ +\+ +balance leastconn$/m);
    const pidsBefore = (await stack.status()).hosts.flatMap((h) => h.services.map((s) => [s.id, s.pid]));
    const applied = await stack.run('up');
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /✓ lb-1\/haproxy +reloaded with the new config/);
    assert.equal(applied.stdout.match(/✓/g)?.length, 1, applied.stdout);
    const pidsAfter = (await stack.status()).hosts.flatMap((h) => h.services.map((s) => [s.id, s.pid]));
    assert.deepEqual(pidsAfter, pidsBefore, 'no process was restarted (HAProxy reloads in place)');
    assert.equal((await get('/whoami')).status, 200);
    assert.match((await stack.run('plan')).stdout, /no differences from what runs/);
  });

  it('down then up keeps the data', async () => {
    const id = `keep-${Date.now()}`;
    const res = await fetch(`${LB}/posts`, {
      method: 'POST',
      headers: { host: HOST, 'content-type': 'application/json' },
      body: JSON.stringify({ id, body: 'survives down/up' }),
    });
    assert.equal(res.status, 201);
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const down = await stack.run('down');
    assert.equal(down.code, 0, down.stderr);
    await assert.rejects(get('/whoami'));
    await stack.up();
    const r = await get(`/posts/${id}`, { cookie });
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as { body: string }).body, 'survives down/up');
  });
});
