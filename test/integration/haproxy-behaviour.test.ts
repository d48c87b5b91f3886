/**
 * What the rendered haproxy.cfg makes the real HAProxy do, in front of two small Node
 * upstreams on the web hosts' loopback addresses that count every request and misbehave
 * on demand: which failures are retried, that a POST is never replayed, that an app's
 * own 503 is not multiplied, and that `lb.rateLimit` answers 429 past the limit.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import type { Plan, StackConfig } from '../../src/config/types.ts';
import { haproxyEngine } from '../../src/engines/haproxy.ts';
import { haproxyServiceFor, renderHaproxy } from '../../src/render/haproxy.ts';
import { installed, planOf, removeTempDirs } from '../unit/fixtures/plans.ts';

const STACK: StackConfig = { name: 'hapx', network: { subnet: '127.71.0.0/24' } };
const LB = 'lb-1';

/** How an upstream treats a request to `/drop`, `/db` or anything else. */
type Behaviour = 'answer' | 'drop' | 'unavailable';

/** One web server stand-in: counts requests (health checks apart) and behaves as told. */
class Upstream {
  readonly counts = new Map<string, number>();
  behaviour: Behaviour = 'answer';
  private server: http.Server | undefined;

  constructor(
    readonly name: string,
    readonly address: string,
    readonly port: number,
  ) {}

  count(method: string, path: string): number {
    return this.counts.get(`${method} ${path}`) ?? 0;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      if (req.url === '/readyz') return void res.end('ready');
      const key = `${req.method} ${req.url}`;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      req.resume();
      req.on('end', () => {
        // An app killed mid-request: the connection closes without a byte of answer.
        if (this.behaviour === 'drop') return void req.socket.destroy();
        if (this.behaviour === 'unavailable') {
          res.writeHead(503, { 'retry-after': '1' });
          return void res.end('database unavailable');
        }
        res.writeHead(200, { 'x-served-by': this.name });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, this.address, resolve);
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  reset(): void {
    this.counts.clear();
    this.behaviour = 'answer';
  }
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
}

/** One request on its own connection; bounded in time. */
function send(address: string, port: number, method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: address, port, method, path, agent: false, timeout: 10_000, headers: { host: 'foobar.com' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(method === 'POST' ? '{"body":"hello"}' : undefined);
  });
}

/** HAProxy from the rendered config of `plan`, as the supervisor runs it; killed by PID. */
class Haproxy {
  private child: ChildProcess | undefined;
  output = '';

  constructor(readonly plan: Plan) {}

  get address(): string {
    return this.plan.hosts.find((h) => h.name === LB)!.address;
  }

  async start(): Promise<void> {
    const paths = servicePaths(haproxyServiceFor(this.plan, LB));
    fs.mkdirSync(paths.dir, { recursive: true });
    fs.writeFileSync(paths.config, renderHaproxy(this.plan, LB));
    // Its own process group, so the master and its worker go together.
    this.child = spawn(haproxyEngine.runCommand(paths)[0]!, haproxyEngine.runCommand(paths).slice(1), {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d) => (this.output += d));
    this.child.stderr!.on('data', (d) => (this.output += d));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`haproxy exited ${this.child.exitCode}:\n${this.output}`);
      // A bare connection: an HTTP probe would count against a rate limit.
      const up = await new Promise<boolean>((resolve) => {
        const socket = net.connect(this.plan.lb.port, this.address);
        socket.once('connect', () => resolve(socket.destroy() && true));
        socket.once('error', () => resolve(false));
      });
      if (up) return;
      if (Date.now() > deadline) throw new Error(`haproxy did not listen within 10 s:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child?.pid || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
    await exited;
  }

  async get(path: string): Promise<Answer> {
    return send(this.address, this.plan.lb.port, 'GET', path);
  }

  async post(path: string): Promise<Answer> {
    return send(this.address, this.plan.lb.port, 'POST', path);
  }
}

const skip = !installed(haproxyEngine.binary) && 'haproxy is not installed';

/** Upstreams on the plan's backends, HAProxy in front; everything stopped after, also on failure. */
function withLb(config: StackConfig): { lb: () => Haproxy; upstreams: () => Upstream[] } {
  let lb: Haproxy | undefined;
  let upstreams: Upstream[] = [];
  before(async () => {
    const plan = planOf(config);
    upstreams = plan.lb.backends.map((b) => new Upstream(b.name, b.address, b.port));
    try {
      await Promise.all(upstreams.map((u) => u.start()));
      lb = new Haproxy(plan);
      await lb.start();
    } catch (err) {
      await Promise.allSettled([lb?.stop(), ...upstreams.map((u) => u.stop())]);
      throw err;
    }
  });
  after(async () => {
    await Promise.allSettled([lb?.stop(), ...upstreams.map((u) => u.stop())]);
    removeTempDirs();
  });
  return { lb: () => lb!, upstreams: () => upstreams };
}

const total = (upstreams: Upstream[], method: string, path: string) =>
  upstreams.reduce((sum, u) => sum + u.count(method, path), 0);

describe('HAProxy from the rendered config (real engine, Node upstreams)', { skip, timeout: 60_000 }, () => {
  const { lb, upstreams } = withLb(STACK);

  it('does not replay a POST whose connection the server dropped: one attempt, a 502', async () => {
    for (const u of upstreams()) u.reset();
    for (const u of upstreams()) u.behaviour = 'drop';
    const answer = await lb().post('/posts');
    assert.equal(answer.status, 502, lb().output);
    assert.equal(total(upstreams(), 'POST', '/posts'), 1, 'the POST reached a server exactly once');
  });

  it('replays a GET whose connection one server dropped on the other server', async () => {
    for (const u of upstreams()) u.reset();
    const [first, second] = upstreams();
    first!.behaviour = 'drop';
    const answers = await Promise.all([lb().get('/drop'), lb().get('/drop')]);
    // Round robin sends one of the two to the dropping server first; both still succeed.
    assert.deepEqual(
      answers.map((a) => [a.status, a.headers['x-served-by']]),
      [
        [200, second!.name],
        [200, second!.name],
      ],
      lb().output,
    );
    assert.ok(first!.count('GET', '/drop') >= 1, 'the dropping server saw a GET');
  });

  it('moves a request, POST included, to the other server when one refuses connections', async () => {
    for (const u of upstreams()) u.reset();
    const [first, second] = upstreams();
    await first!.stop();
    try {
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await lb().post('/posts'), await lb().get('/'));
      assert.deepEqual(
        answers.map((a) => a.status),
        Array(8).fill(200),
      );
      assert.equal(second!.count('POST', '/posts'), 4, 'each POST was sent once, to the live server');
    } finally {
      await first!.start();
    }
  });

  it("does not multiply an app's 503 (a database outage): one server request per client request", async () => {
    for (const u of upstreams()) u.reset();
    for (const u of upstreams()) u.behaviour = 'unavailable';
    const N = 8;
    const answers = await Promise.all(Array.from({ length: N }, () => lb().get('/db')));
    assert.deepEqual(
      answers.map((a) => a.status),
      Array(N).fill(503),
    );
    assert.equal(total(upstreams(), 'GET', '/db'), N, `${N} client requests`);
  });

  it('applies no rate limit by default', async () => {
    for (const u of upstreams()) u.reset();
    const statuses = [];
    for (let i = 0; i < 60; i++) statuses.push((await lb().get('/')).status);
    assert.deepEqual(statuses, Array(60).fill(200));
  });
});

describe('HAProxy with lb.rateLimit on (real engine)', { skip, timeout: 60_000 }, () => {
  const LIMIT = { requests: 20, perSeconds: 10 };
  const { lb, upstreams } = withLb({ ...STACK, lb: { rateLimit: LIMIT } });

  it('answers 429 with Retry-After past the limit, and the servers never see those requests', async () => {
    const answers: Answer[] = [];
    for (let i = 0; i < 30; i++) answers.push(await lb().get('/'));
    const statuses = answers.map((a) => a.status);
    assert.deepEqual(statuses, [...Array(LIMIT.requests).fill(200), ...Array(30 - LIMIT.requests).fill(429)]);
    assert.equal(answers.at(-1)!.headers['retry-after'], String(LIMIT.perSeconds));
    assert.equal(total(upstreams(), 'GET', '/'), LIMIT.requests);
  });
});
