/**
 * What the rendered haproxy.cfg makes the real HAProxy do, in front of two small Node
 * upstreams on the web hosts' loopback addresses that count every request and misbehave
 * on demand: which failures are retried, that a POST is replayed only with an
 * Idempotency-Key, that an app's
 * own 503 is not multiplied, and that `lb.rateLimit` answers 429 past the limit.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { type ServicePaths, servicePaths } from '../../src/config/paths.ts';
import { unixRequest } from '../../src/hosts/net.ts';
import type { StackConfig } from '../../src/config/types.ts';
import { haproxyEngine } from '../../src/engines/haproxy.ts';
import { haproxyServiceFor, readOnlyAclFile, renderHaproxy } from '../../src/render/haproxy.ts';
import { countAll, EngineProcess, engineInFront, Upstream } from '../support/upstreams.ts';
import { installed, planOf, removeTempDirs } from '../unit/fixtures/plans.ts';

const STACK: StackConfig = { name: 'hapx', network: { subnet: '127.74.0.0/24' } };
const LB = 'lb-1';

after(removeTempDirs);

/** HAProxy from the rendered config of `config`, as the supervisor runs it, before stand-ins for the web servers. */
function haproxyInFront(config: StackConfig) {
  let paths: ServicePaths | undefined;
  const inFront = engineInFront(() => {
    const plan = planOf(config);
    paths = servicePaths(haproxyServiceFor(plan, LB));
    fs.mkdirSync(paths.dir, { recursive: true });
    fs.writeFileSync(paths.config, renderHaproxy(plan, LB));
    fs.writeFileSync(readOnlyAclFile(paths), '');
    const address = plan.hosts.find((h) => h.name === LB)!.address;
    return {
      upstreams: plan.lb.backends.map((b) => new Upstream(b.name, b.address, b.port, plan.app.adminPort)),
      engine: new EngineProcess(haproxyEngine.runCommand(paths), address, plan.lb.port),
    };
  });
  return { ...inFront, paths: () => paths! };
}

const skip = !installed(haproxyEngine.binary) && 'haproxy is not installed';

describe('HAProxy from the rendered config (real engine, Node upstreams)', { skip, timeout: 60_000 }, () => {
  const { engine: lb, upstreams, paths: lbPaths } = haproxyInFront(STACK);

  it('does not replay a POST whose connection the server dropped: one attempt, a 502', async () => {
    for (const u of upstreams()) u.reset();
    for (const u of upstreams()) u.behaviour = 'drop';
    const answer = await lb().post('/posts');
    assert.equal(answer.status, 502, lb().output);
    assert.equal(countAll(upstreams(), 'POST', '/posts'), 1, 'the POST reached a server exactly once');
  });

  it('replays a POST with an Idempotency-Key whose connection one server dropped on the other server', async () => {
    for (const u of upstreams()) u.reset();
    const [first, second] = upstreams();
    first!.behaviour = 'drop';
    const headers = { 'idempotency-key': 'post-1' };
    const answers = await Promise.all([lb().post('/posts', { headers }), lb().post('/posts', { headers })]);
    assert.deepEqual(
      answers.map((a) => [a.status, a.headers['x-served-by']]),
      [
        [200, second!.name],
        [200, second!.name],
      ],
      lb().output,
    );
    assert.ok(first!.count('POST', '/posts') >= 1, 'the dropping server saw a POST');
    assert.equal(second!.lastHeaders['idempotency-key'], 'post-1', 'the key reaches the app');
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
    // One after another: 503s count as errors for `observe layer7`, and the mark-down they
    // trigger cuts sessions still in flight (`on-marked-down shutdown-sessions`); a GET cut
    // that way is an empty response, replayed by design. That is not the 503 policy under test.
    const answers = [];
    for (let i = 0; i < N; i++) answers.push(await lb().get('/db'));
    assert.deepEqual(
      answers.map((a) => a.status),
      Array(N).fill(503),
    );
    assert.equal(countAll(upstreams(), 'GET', '/db'), N, `${N} client requests`);
  });

  it('the maintenance switch (runtime API, no reload): read-only answers writes 503 with Retry-After at once and serves reads; down answers everything 503; open again serves writes', async () => {
    for (const u of upstreams()) u.reset();
    const paths = lbPaths();
    const say = async (command: string) => assert.equal((await unixRequest(paths.socket, command)).trim(), '');
    await say(`add acl ${readOnlyAclFile(paths)} writes`);
    try {
      const writes = [
        await lb().post('/posts'),
        await lb().request('PUT', '/posts/1'),
        await lb().request('DELETE', '/posts/1'),
      ];
      assert.deepEqual(
        writes.map((a) => [a.status, a.headers['retry-after']]),
        Array(3).fill([503, '5']),
      );
      assert.match(writes[0]!.body, /read-only for maintenance/);
      assert.equal((await lb().get('/')).status, 200, 'reads go on');
      assert.equal(countAll(upstreams(), 'POST', '/posts'), 0, 'no write reached a server');
      // Down: every request is answered at the LB.
      await say(`add acl ${readOnlyAclFile(paths)} all`);
      const down = await lb().get('/');
      assert.deepEqual([down.status, down.headers['retry-after']], [503, '5']);
      assert.match(down.body, /down for maintenance/);
      assert.equal(countAll(upstreams(), 'GET', '/'), 1, 'only the read before it reached a server');
    } finally {
      await say(`clear acl ${readOnlyAclFile(paths)}`);
    }
    assert.equal((await lb().post('/posts')).status, 200);
    assert.equal(countAll(upstreams(), 'POST', '/posts'), 1);
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
  const { engine: lb, upstreams } = haproxyInFront({ ...STACK, lb: { rateLimit: LIMIT } });

  it('answers 429 with Retry-After past the limit, and the servers never see those requests', async () => {
    const answers = [];
    for (let i = 0; i < 30; i++) answers.push(await lb().get('/'));
    const statuses = answers.map((a) => a.status);
    assert.deepEqual(statuses, [...Array(LIMIT.requests).fill(200), ...Array(30 - LIMIT.requests).fill(429)]);
    assert.equal(answers.at(-1)!.headers['retry-after'], String(LIMIT.perSeconds));
    assert.equal(countAll(upstreams(), 'GET', '/'), LIMIT.requests);
  });
});
