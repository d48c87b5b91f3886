/**
 * Abuse and outage through the whole stack (loopback hosts, real engines), from client
 * addresses of their own: sign-in throttling by the real client address (HAProxy →
 * nginx → app), and a database outage that the LB does not multiply.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { DEFAULTS } from '../../src/config/defaults.ts';
import { TestStack } from '../support/stack.ts';

const SUBNET = '127.75.0';
const stack = new TestStack('abuse', { name: 'abuse', hosting: 'loopback', network: { subnet: `${SUBNET}.0/24` } });
const LB = `${SUBNET}.11`;
/** Two clients: an attacker and the account's owner somewhere else. */
const ATTACKER = `${SUBNET}.200`;
const OWNER = `${SUBNET}.201`;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request from `from`, on its own connection; bounded in time. */
function request(from: string, method: string, path: string, body?: unknown, to = `${LB}:80`): Promise<Answer> {
  const [host, port] = to.split(':');
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port: Number(port),
        method,
        path,
        localAddress: from,
        agent: false,
        timeout: 10_000,
        headers: {
          host: 'foobar.com',
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The app servers' `address:port`, from `tandem status`. */
async function appEndpoints(): Promise<string[]> {
  const status = await stack.status();
  const apps = status.hosts.flatMap((h) => h.services.filter((s) => s.kind === 'app'));
  assert.ok(apps.length >= 2, `app services: ${JSON.stringify(apps)}`);
  return apps.map((s) => `${s.address}:${s.port}`);
}

/**
 * Requests for `route` each app has counted (its own prom-client counter), summed.
 * Read where the app serves its metrics; asked from the LB host's address, a host
 * that may reach it.
 */
async function appRequestsFor(apps: string[], route: string): Promise<number> {
  let sum = 0;
  for (const app of apps) {
    // The app's metrics live on its private listener (app.adminPort), on its own address.
    const admin = `${app.split(':')[0]}:${DEFAULTS.app.adminPort}`;
    const res = await request(LB, 'GET', '/metrics', undefined, admin);
    assert.equal(res.status, 200, `metrics of ${app}: ${res.body.slice(0, 200)}`);
    for (const line of res.body.split('\n')) {
      if (line.startsWith('http_requests_total{') && line.includes(`route="${route}"`))
        sum += Number(line.split(' ').at(-1));
    }
  }
  return sum;
}

describe('abuse and outage through the stack (loopback hosts, real engines)', { timeout: 300_000 }, () => {
  before(() => stack.up());
  after(() => stack.cleanup());

  it('300 wrong sign-ins from one client: 10 answered 401, the rest 429 with Retry-After; the owner elsewhere signs in', async (t) => {
    const creds = { username: 'victim', password: 'correct horse battery' };
    const signup = await request(OWNER, 'POST', '/signup', creds);
    assert.equal(signup.status, 201, signup.body);

    const started = Date.now();
    const answers: Answer[] = [];
    for (let i = 0; i < 300; i++)
      answers.push(await request(ATTACKER, 'POST', '/signin', { ...creds, password: `wrong-guess-${i}` }));
    const seconds = (Date.now() - started) / 1000;
    const statuses = answers.map((a) => a.status);
    assert.deepEqual(statuses, [...Array(10).fill(401), ...Array(290).fill(429)]);
    // Counted across both app servers (round robin), by the attacker's own address.
    const servers = new Set(answers.slice(0, 10).map((a) => a.headers['x-served-by']));
    assert.equal(servers.size, 2, `401s answered by ${[...servers]}`);
    for (const refused of answers.slice(10)) {
      const wait = Number(refused.headers['retry-after']);
      assert.ok(Number.isInteger(wait) && wait >= 1 && wait <= 60, `Retry-After: ${refused.headers['retry-after']}`);
    }

    const fromAttacker = await request(ATTACKER, 'POST', '/signin', creds);
    assert.equal(fromAttacker.status, 429, 'the throttled address is refused even the right password');
    const fromOwner = await request(OWNER, 'POST', '/signin', creds);
    assert.equal(fromOwner.status, 200, fromOwner.body);
    t.diagnostic(`300 wrong sign-ins in ${seconds.toFixed(1)} s: 10 × 401, 290 × 429`);
  });

  it('during a database outage the apps receive at most one request per client request', async (t) => {
    const apps = await appEndpoints();
    const home = await request(OWNER, 'GET', '/');
    assert.equal(home.status, 200, 'the home page reads the database');

    for (const target of ['db:primary', 'db:replica']) {
      const r = await stack.run('chaos', 'kill-host', target);
      assert.equal(r.code, 0, r.stderr);
    }
    try {
      // One client request at a time, at once: before the LB's checks mark the servers
      // down (then HAProxy answers alone and no app is asked at all).
      const N = 6;
      const perRequest: number[] = [];
      const statuses: number[] = [];
      for (let i = 0; i < N; i++) {
        const before = await appRequestsFor(apps, '/');
        statuses.push((await request(OWNER, 'GET', '/')).status);
        perRequest.push((await appRequestsFor(apps, '/')) - before);
      }
      t.diagnostic(`database down: app requests per client GET / = ${JSON.stringify(perRequest)}`);
      assert.deepEqual(statuses, Array(N).fill(503), 'the outage shows');
      assert.ok(
        perRequest.some((n) => n > 0),
        `no request reached an app, so this run proves nothing: ${perRequest}`,
      );
      for (const n of perRequest) assert.ok(n <= 1, `app requests per client request: ${JSON.stringify(perRequest)}`);
    } finally {
      const healed = await stack.run('chaos', 'heal');
      assert.equal(healed.code, 0, healed.stderr);
    }
    assert.equal((await request(OWNER, 'GET', '/')).status, 200, 'back after heal');
  });
});
