/**
 * Test support for engine-behaviour tests: small Node HTTP servers that stand in for the
 * servers behind a proxy (count requests, misbehave on demand, remember what the proxy
 * told them), a one-shot HTTP client, and an engine run from its rendered config in its
 * own process group, stopped by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { after, before } from 'node:test';

/** How an upstream treats the requests it counts. */
export type Behaviour = 'answer' | 'drop' | 'unavailable' | 'hang';

/** A server stand-in: counts requests (readiness checks apart) and behaves as told. */
export class Upstream {
  readonly counts = new Map<string, number>();
  behaviour: Behaviour = 'answer';
  /** Headers of the last counted request. */
  lastHeaders: http.IncomingHttpHeaders = {};
  private server: http.Server | undefined;
  private admin: http.Server | undefined;

  /** `adminPort`: also answer readiness there, as the app's private listener does. */
  constructor(
    readonly name: string,
    readonly address: string,
    readonly port: number,
    readonly adminPort?: number,
  ) {}

  count(method: string, path: string): number {
    return this.counts.get(`${method} ${path}`) ?? 0;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      // The checks of the proxy in front (nginx's status page, the app's readiness) are not counted.
      if (req.url === '/readyz' || req.url === '/nginx_status') return void res.end('ready');
      const key = `${req.method} ${req.url}`;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      this.lastHeaders = req.headers;
      req.resume();
      req.on('end', () => {
        // An app killed mid-request: the connection closes without a byte of answer.
        if (this.behaviour === 'drop') return void req.socket.destroy();
        // A frozen app (SIGSTOP): the request was read, the answer never comes.
        if (this.behaviour === 'hang') return;
        if (this.behaviour === 'unavailable') {
          res.writeHead(503, { 'retry-after': '1' });
          return void res.end('database unavailable');
        }
        res.writeHead(200, { 'x-served-by': this.name });
        res.end('ok');
      });
    });
    await listen(this.server, this.port, this.address);
    if (this.adminPort !== undefined && !this.admin) {
      this.admin = http.createServer((req, res) => {
        res.writeHead(req.url === '/readyz' ? 200 : 404);
        res.end();
      });
      await listen(this.admin, this.adminPort, this.address);
    }
  }

  /** Stops the public listener (a dead app); `withAdmin` also stops the readiness one. */
  async stop(withAdmin = false): Promise<void> {
    const servers = [this.server, ...(withAdmin ? [this.admin] : [])];
    this.server = undefined;
    if (withAdmin) this.admin = undefined;
    for (const server of servers) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  reset(): void {
    this.counts.clear();
    this.behaviour = 'answer';
    this.lastHeaders = {};
  }
}

function listen(server: http.Server, port: number, address: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, resolve);
  });
}

/** Requests `method path` the upstreams counted, together. */
export function countAll(upstreams: readonly Upstream[], method: string, path: string): number {
  return upstreams.reduce((sum, u) => sum + u.count(method, path), 0);
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Its first 4 KiB. */
  body: string;
}

export interface SendOptions {
  /** Source address of the connection. */
  from?: string;
  headers?: Record<string, string>;
}

/** One request on its own connection; bounded in time. */
export function send(
  address: string,
  port: number,
  method: string,
  path: string,
  options: SendOptions = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: address,
        port,
        method,
        path,
        agent: false,
        timeout: 10_000,
        ...(options.from ? { localAddress: options.from } : {}),
        headers: { host: 'foobar.com', ...options.headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 4096) body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(method === 'POST' ? '{"body":"hello"}' : undefined);
  });
}

/** An engine from its rendered config, in its own process group; killed by PID. */
export class EngineProcess {
  private child: ChildProcess | undefined;
  output = '';

  constructor(
    readonly argv: readonly string[],
    readonly address: string,
    readonly port: number,
  ) {}

  /** Starts it and waits until it accepts connections on `address:port`. */
  async start(): Promise<void> {
    this.child = spawn(this.argv[0]!, this.argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => (this.output += d));
    this.child.stderr!.on('data', (d) => (this.output += d));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (this.child.exitCode !== null)
        throw new Error(`${this.argv[0]} exited ${this.child.exitCode}:\n${this.output}`);
      // A bare connection: an HTTP probe would count against a rate limit.
      const up = await new Promise<boolean>((resolve) => {
        const socket = net.connect(this.port, this.address);
        socket.once('connect', () => resolve(socket.destroy() && true));
        socket.once('error', () => resolve(false));
      });
      if (up) return;
      if (Date.now() > deadline) throw new Error(`${this.argv[0]} did not listen within 10 s:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGKILL to its process group (master and workers), then waits for the exit. */
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

  get(path: string, options?: SendOptions): Promise<Answer> {
    return send(this.address, this.port, 'GET', path, options);
  }

  post(path: string, options?: SendOptions): Promise<Answer> {
    return send(this.address, this.port, 'POST', path, options);
  }

  request(method: string, path: string, options?: SendOptions): Promise<Answer> {
    return send(this.address, this.port, method, path, options);
  }
}

/**
 * Registers `before`/`after` hooks: starts the upstreams, then the engine in front of
 * them; stops everything after, also when starting failed.
 */
export function engineInFront(setup: () => { upstreams: Upstream[]; engine: EngineProcess }): {
  engine: () => EngineProcess;
  upstreams: () => Upstream[];
} {
  let engine: EngineProcess | undefined;
  let upstreams: Upstream[] = [];
  const stopAll = () => Promise.allSettled([engine?.stop(), ...upstreams.map((u) => u.stop(true))]);
  before(async () => {
    ({ engine, upstreams } = setup());
    try {
      await Promise.all(upstreams.map((u) => u.start()));
      await engine.start();
    } catch (err) {
      await stopAll();
      throw err;
    }
  });
  after(stopAll);
  return { engine: () => engine!, upstreams: () => upstreams };
}
