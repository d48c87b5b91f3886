/**
 * What the rendered nginx.conf makes the real nginx do, in front of Node stand-ins for
 * the apps (the local one and the other server's as backup): which failures move a
 * request to the backup, that a POST is replayed only with an Idempotency-Key, that a frozen
 * app's request is answered by the backup in time, which client address
 * the app is told, and who may read the status page.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import type { StackConfig } from '../../src/config/types.ts';
import { nginxEngine } from '../../src/engines/nginx.ts';
import { NGINX_STATUS_PATH } from '../../src/render/nginx.ts';
import { countAll, EngineProcess, engineInFront, Upstream } from '../support/upstreams.ts';
import { installed, planOf, removeTempDirs, servicesOf, writeStack } from '../unit/fixtures/plans.ts';

const STACK: StackConfig = { name: 'ngx', network: { subnet: '127.76.0.0/24' } };
const WEB = 'server-1';
/** Hosts of the default stack on this subnet: the LB, and an address outside the stack. */
const LB_ADDRESS = '127.76.0.11';
const STRANGER = '127.76.0.200';

after(removeTempDirs);

const skip = !installed(nginxEngine.binary) && 'nginx is not installed';

describe('nginx from the rendered config (real engine, Node apps)', { skip, timeout: 60_000 }, () => {
  const { engine: web, upstreams } = engineInFront(() => {
    const plan = planOf(STACK);
    writeStack(plan);
    const service = servicesOf(plan, 'nginx').find((s) => s.host === WEB)!;
    return {
      upstreams: (plan.web.upstreams[WEB] ?? []).map((u, i) => new Upstream(`app-${i + 1}`, u.address, u.port)),
      engine: new EngineProcess(nginxEngine.runCommand(servicePaths(service)), service.address, service.port),
    };
  });
  const local = () => upstreams()[0]!;
  const backup = () => upstreams()[1]!;
  const reset = () => upstreams().forEach((u) => u.reset());
  /** Headers of the one request `path` the apps received. */
  const receivedHeaders = (path: string) => {
    const got = upstreams().filter((u) => u.count('GET', path) > 0);
    assert.equal(got.length, 1, 'one app received it');
    return got[0]!.lastHeaders;
  };

  it('has the local app and one backup', () => {
    assert.equal(upstreams().length, 2);
  });

  it('does not replay a POST whose connection the app dropped: one attempt, a 502', async () => {
    reset();
    local().behaviour = 'drop';
    const answer = await web().post('/posts', { from: LB_ADDRESS });
    assert.equal(answer.status, 502, web().output);
    assert.equal(countAll(upstreams(), 'POST', '/posts'), 1, 'the POST reached an app exactly once');
  });

  it('replays a POST with an Idempotency-Key whose connection the app dropped on the backup', async () => {
    reset();
    local().behaviour = 'drop';
    const answer = await web().post('/posts', { from: LB_ADDRESS, headers: { 'idempotency-key': 'post-1' } });
    assert.deepEqual([answer.status, answer.headers['x-served-by']], [200, backup().name], web().output);
    assert.equal(local().count('POST', '/posts'), 1, 'the local app saw it once');
    assert.equal(backup().count('POST', '/posts'), 1, 'the backup answered it');
    assert.equal(backup().lastHeaders['idempotency-key'], 'post-1');
  });

  it('answers from the backup, within the 2 s chaos bound, a GET and a keyed POST the frozen local app holds', async () => {
    reset();
    local().behaviour = 'hang';
    for (const send of [
      () => web().get('/frozen', { from: LB_ADDRESS }),
      () => web().post('/posts', { from: LB_ADDRESS, headers: { 'idempotency-key': 'post-2' } }),
    ]) {
      const started = Date.now();
      const answer = await send();
      const ms = Date.now() - started;
      assert.deepEqual([answer.status, answer.headers['x-served-by']], [200, backup().name], web().output);
      assert.ok(ms >= 1000 && ms < 2000, `answered after ${ms} ms`);
    }
    assert.equal(local().count('GET', '/frozen') + local().count('POST', '/posts'), 2, 'the frozen app held both');
  });

  it("passes an app's 503 on without asking the backup", async () => {
    reset();
    // Both: the local app may still be marked failed (fail_timeout) by the test before.
    for (const u of upstreams()) u.behaviour = 'unavailable';
    const answer = await web().get('/db', { from: LB_ADDRESS });
    assert.equal(answer.status, 503);
    assert.equal(countAll(upstreams(), 'GET', '/db'), 1);
  });

  it('sends GET and POST to the backup while the local app refuses connections, each once', async () => {
    reset();
    await local().stop();
    try {
      const answers = [];
      for (let i = 0; i < 3; i++)
        answers.push(await web().post('/posts', { from: LB_ADDRESS }), await web().get('/', { from: LB_ADDRESS }));
      assert.deepEqual(
        answers.map((a) => [a.status, a.headers['x-served-by']]),
        Array(6).fill([200, backup().name]),
      );
      assert.equal(backup().count('POST', '/posts'), 3);
    } finally {
      await local().start();
    }
  });

  it('tells the app the client address the LB saw, whatever the client forged before it', async () => {
    reset();
    const client = '127.76.0.201';
    await web().get('/', { from: LB_ADDRESS, headers: { 'x-forwarded-for': `6.6.6.6, ${client}` } });
    const headers = receivedHeaders('/');
    assert.equal(headers['x-real-ip'], client);
    assert.equal(headers['x-forwarded-for'], `6.6.6.6, ${client}, ${LB_ADDRESS}`);
  });

  it('believes X-Forwarded-For from the LBs only', async () => {
    reset();
    await web().get('/', { from: STRANGER, headers: { 'x-forwarded-for': '6.6.6.6' } });
    assert.equal(receivedHeaders('/')['x-real-ip'], STRANGER);
  });

  it('shows the status page to its own host and the LBs (their health check) only', async () => {
    for (const from of [web().address, LB_ADDRESS]) {
      const allowed = await web().get(NGINX_STATUS_PATH, { from });
      assert.equal(allowed.status, 200, `from ${from}`);
    }
    // A forged X-Forwarded-For does not make a stranger one of them.
    const stranger = await web().get(NGINX_STATUS_PATH, { from: STRANGER, headers: { 'x-forwarded-for': LB_ADDRESS } });
    assert.equal(stranger.status, 403);
  });
});
