/**
 * The whole design on loopback hosts with real HAProxy, nginx, MariaDB and the
 * foobar.com app, driven through the `tandem` CLI.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
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
