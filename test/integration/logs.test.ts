/**
 * Logs on a loopback stack with the real engines: one request followed by its id
 * through HAProxy's, nginx's and the app's logs with `tandem logs`, `-f` ended by Ctrl-C,
 * errors naming a bad selector, and logs rotated by the supervisor at a size limit.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Plan } from '../../src/config/types.ts';
import { type LogRotation, startSupervised, stopSupervised } from '../../src/hosts/supervise.ts';
import { loadPlan } from '../../src/orchestrate/config-loader.ts';
import { serviceLogFiles } from '../../src/orchestrate/log-files.ts';
import { unitOf } from '../../src/orchestrate/services.ts';
import { REPO, sleep, TestStack } from '../support/stack.ts';

const stack = new TestStack('logs', {
  name: 'logs',
  hosting: 'loopback',
  network: { subnet: '127.78.0.0/24' },
  hosts: [
    { name: 'lb-1', roles: ['lb'] },
    { name: 'server-1', roles: ['web', 'app', 'db'] },
  ],
  database: { primary: 'server-1' },
});
const HOST = 'www.foobar.com';
let plan: Plan;
let lb = '';

/** One GET through the LB; returns the request id HAProxy gave it. */
async function request(pathname: string): Promise<string> {
  const res = await fetch(`${lb}${pathname}`, { headers: { host: HOST }, signal: AbortSignal.timeout(5000) });
  await res.text();
  assert.equal(res.status, 200, pathname);
  const id = res.headers.get('x-request-id');
  assert.ok(id, 'HAProxy answers with the request id');
  return id;
}

interface JsonLine {
  readonly time: string;
  readonly service: string;
  readonly file: string;
  readonly line: string;
}

async function logsJson(...args: string[]): Promise<JsonLine[]> {
  const r = await stack.run('logs', '--json', ...args);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JsonLine);
}

/** Polls `tandem logs` until some line of each service names `id` (the app and nginx flush within 1 s). */
async function linesNaming(id: string, services: readonly string[], timeoutMs = 8000): Promise<JsonLine[]> {
  const deadline = Date.now() + timeoutMs;
  let found: JsonLine[] = [];
  while (Date.now() < deadline) {
    found = (await logsJson('--since', '5m')).filter((l) => l.line.includes(id));
    if (services.every((s) => found.some((l) => l.service === s))) return found;
    await sleep(300);
  }
  return found;
}

describe('tandem logs (loopback hosts, real engines)', { timeout: 300_000 }, () => {
  before(async () => {
    await stack.up();
    plan = await loadPlan(stack.configFile);
    lb = `http://${plan.hosts.find((h) => h.name === 'lb-1')!.address}:${plan.lb.port}`;
  });
  after(() => stack.cleanup());

  it('GIVEN a request through the LB THEN HAProxy, nginx and the app each log a line with its id', async () => {
    const id = await request('/whoami');
    const services = ['lb-1/haproxy', 'server-1/nginx', 'server-1/app'];
    const found = await linesNaming(id, services);
    for (const s of services) {
      assert.ok(
        found.some((l) => l.service === s),
        `${s} logged ${id}: ${JSON.stringify(found)}`,
      );
    }
    const app = JSON.parse(found.find((l) => l.service === 'server-1/app')!.line) as Record<string, unknown>;
    assert.deepEqual([app.reqId, app.url, app.status], [id, '/whoami', 200]);
    const nginx = JSON.parse(found.find((l) => l.file === 'access.log')!.line) as Record<string, unknown>;
    assert.deepEqual([nginx.reqId, nginx.uri, nginx.status], [id, '/whoami', 200]);
    assert.match(found.find((l) => l.service === 'lb-1/haproxy')!.line, /"GET \/whoami HTTP\/1\.1"/);
    // Merged in time order.
    const times = found.map((l) => Date.parse(l.time));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
    // One host's logs hold only that host's services.
    const lbOnly = await logsJson('lb-1');
    assert.ok(lbOnly.length > 0);
    assert.ok(lbOnly.every((l) => l.service.startsWith('lb-1/')));
  });

  it('GIVEN logs -f THEN a new request shows up while it follows, and Ctrl-C ends it with exit 0', async () => {
    const child = spawn(
      process.execPath,
      [path.join(REPO, 'bin/tandem.js'), 'logs', 'server-1/app', '-f', '--since', '1s', '--config', stack.configFile],
      { cwd: stack.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // Started and reading (the CLI builds itself when the sources changed: allow for it).
      await sleep(3000);
      const id = await request('/whoami');
      const deadline = Date.now() + 10_000;
      while (!out.includes(id) && Date.now() < deadline) await sleep(100);
      assert.ok(out.includes(id), `followed output lacks ${id}:\n${out.slice(-2000)}`);
      assert.match(out, new RegExp(`^server-1/app +\\{.*"reqId":"${id}"`, 'm'));
      const sent = Date.now();
      child.kill('SIGINT');
      const code = await Promise.race([exited, sleep(5000).then(() => 'still running')]);
      assert.equal(code, 0, `after Ctrl-C: ${out.slice(-500)}`);
      assert.ok(Date.now() - sent < 2000, 'it stops within 2 s');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('names an unknown host or service', async () => {
    const host = await stack.run('logs', 'server-9');
    assert.equal(host.code, 1);
    assert.match(host.stderr, /no host 'server-9'/);
    assert.match(host.stderr, /lb-1, server-1/);
    const service = await stack.run('logs', 'server-1/redis');
    assert.equal(service.code, 1);
    assert.match(service.stderr, /host server-1 runs no service 'redis'/);
    const since = await stack.run('logs', '--since', 'soon');
    assert.equal(since.code, 1);
    assert.match(since.stderr, /--since soon/);
  });

  it('GIVEN logs past the size limit THEN the supervisor rotates them, keeps `keep` files, and the total stays bounded', async () => {
    // The LB's output (HAProxy's request log) and nginx's access log, supervised as
    // `up` does, with a small limit.
    const rotate: LogRotation = { maxBytes: 32 * 1024, keep: 2, everyMs: 100 };
    const chosen = plan.services.filter((s) => s.id === 'lb-1/haproxy' || s.id === 'server-1/nginx');
    assert.equal(chosen.length, 2);
    for (const service of chosen) {
      const unit = unitOf(plan, service);
      await stopSupervised(unit.paths);
      await startSupervised(unit.paths, { ...unit.spec, rotate });
    }
    await sleep(1000);
    // About 250 bytes per line in each file: 2000 requests make ~500 KB, ~15 limits' worth.
    let done = 0;
    const worker = async () => {
      while (done < 2000) {
        done++;
        await request('/whoami');
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await sleep(1500);
    const access = serviceLogFiles(chosen.find((s) => s.kind === 'nginx')!).find((f) => f.endsWith('access.log'))!;
    const haproxy = serviceLogFiles(chosen.find((s) => s.kind === 'haproxy')!)[0]!;
    for (const file of [access, haproxy]) {
      const generations = [file, `${file}.1`, `${file}.2`, `${file}.3`];
      const sizes = generations.map((f) => (fs.existsSync(f) ? fs.statSync(f).size : -1));
      process.stdout.write(
        `# ${path.basename(path.dirname(file))}: ${generations.map((g, i) => `${path.basename(g)}=${sizes[i]}`).join(' ')}\n`,
      );
      assert.ok(sizes[1]! > 0 && sizes[2]! > 0, `${file} was rotated twice or more: ${sizes}`);
      assert.equal(sizes[3], -1, `only ${rotate.keep} rotated files are kept`);
      const total = sizes.filter((s) => s > 0).reduce((a, b) => a + b, 0);
      // Each file is rotated within 100 ms of passing the limit: at this rate (~1 KB/ms
      // at most) it cannot pass it by more than 64 KB.
      assert.ok(total <= (rotate.keep + 1) * (rotate.maxBytes + 64 * 1024), `${file}: ${total} bytes in all`);
    }
    // Truncated in place: nginx goes on writing the current file.
    const id = await request('/whoami');
    const deadline = Date.now() + 5000;
    while (!fs.readFileSync(access, 'utf8').includes(id) && Date.now() < deadline) await sleep(200);
    assert.ok(fs.readFileSync(access, 'utf8').includes(id), 'nginx writes to the new access.log');
  });
});
