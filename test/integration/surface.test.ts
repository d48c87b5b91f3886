/**
 * The public surface is the site, nothing else (issue 7, section 1), shown from the
 * client namespace through the VIP over HTTPS: internal paths are refused at HAProxy,
 * every response carries the security headers, an oversized header gets an HTTP answer,
 * and the app's private listener (health, readiness, metrics) is reachable from the load
 * balancers only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { StackConfig } from '../../src/config/types.ts';
import { INTERNAL_PATHS } from '../../src/render/haproxy.ts';
import { inNs } from '../support/netns.ts';
import { sleep, TestStack } from '../support/stack.ts';

const NAME = 'surface';
const SUBNET = '10.86.0';
const CONFIG: StackConfig = { name: NAME, hosting: 'netns', network: { subnet: `${SUBNET}.0/24` } };
const CLIENT_NS = `tandem-${NAME}-client`;
const SITE = 'https://www.foobar.com';
const ADMIN_PORT = 3001;
const stack = new TestStack(NAME, CONFIG);

let caFile = '';

interface Answer {
  /** 0 when no HTTP answer came. */
  status: number;
  /** Lower-cased header names to values (the final response's). */
  headers: Map<string, string>;
  body: string;
  /** curl's exit code. */
  code: number;
}

/** One request with curl from `ns`: status, headers and body of the answer. */
async function curl(url: string, extra: string[] = [], ns = CLIENT_NS): Promise<Answer> {
  const marker = '\n--tandem-status:';
  const r = await inNs(
    ns,
    ['curl', '-sS', '--max-time', '10', '--cacert', caFile, '-D', '-', '-w', `${marker}%{http_code}`, ...extra, url],
    20_000,
  );
  const at = r.stdout.lastIndexOf(marker);
  const status = at < 0 ? 0 : Number(r.stdout.slice(at + marker.length));
  const text = at < 0 ? r.stdout : r.stdout.slice(0, at);
  const split = text.search(/\r?\n\r?\n/);
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? '' : text.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.split(/\r?\n/).slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status, headers, body, code: r.code };
}

/** The security headers every public response carries, and no Server banner. */
function assertSecurityHeaders(what: string, a: Answer): void {
  assert.equal(a.headers.get('x-content-type-options'), 'nosniff', what);
  assert.equal(a.headers.get('referrer-policy'), 'strict-origin-when-cross-origin', what);
  const csp = a.headers.get('content-security-policy') ?? '';
  assert.match(csp, /frame-ancestors 'none'/, `${what}: CSP ${csp}`);
  assert.match(csp, /default-src 'none'/, `${what}: CSP ${csp}`);
  assert.equal(a.headers.get('strict-transport-security'), 'max-age=63072000; includeSubDomains', what);
  assert.equal(a.headers.get('server'), undefined, `${what}: no Server banner`);
}

describe('the public surface is the site (netns, from the client namespace)', { timeout: 600_000 }, () => {
  let servers: { name: string; address: string }[] = [];
  before(async () => {
    await stack.up();
    caFile = (await stack.run('ca')).stdout.trim();
    const status = await stack.status();
    servers = status.hosts
      .filter((h) => h.services.some((s) => s.id.endsWith('/app')))
      .map((h) => ({ name: h.name, address: h.address }));
  });
  after(() => stack.cleanup());

  it('answers 404 at HAProxy for every internal path, however it is spelled', async () => {
    const paths = [
      ...INTERNAL_PATHS,
      '/METRICS',
      '/%6detrics',
      '/readyz/',
      '/metrics?format=text',
      '/healthz/deep',
      '/nginx_status',
    ];
    const refused: string[] = [];
    for (const p of paths) {
      for (const url of [`${SITE}${p}`, `http://www.foobar.com${p}`]) {
        const a = await curl(url);
        assert.equal(a.status, 404, `${url}: ${a.status} ${a.body}`);
        assert.equal(a.body, 'Not Found', url);
        // HAProxy's own answer: no app or nginx behind it said this.
        assert.equal(a.headers.get('x-served-by'), undefined, url);
        refused.push(url);
      }
    }
    process.stdout.write(`# refused with 404 at HAProxy: ${refused.join(' ')}\n`);
    assert.equal(refused.length, paths.length * 2);
  });

  it('/whoami says the server name and nothing about the process', async () => {
    const a = await curl(`${SITE}/whoami`);
    assert.equal(a.status, 200);
    const body = JSON.parse(a.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['server']);
    assert.ok(
      servers.some((s) => s.name === body.server),
      `${String(body.server)} is one of ${servers.map((s) => s.name)}`,
    );
  });

  it('sends the security headers on /, on a 404, on a POST and on a static asset, found or missing', async () => {
    const home = await curl(`${SITE}/`);
    assert.equal(home.status, 200);
    assertSecurityHeaders('GET /', home);
    const missing = await curl(`${SITE}/no-such-page`);
    assert.equal(missing.status, 404);
    assertSecurityHeaders('GET /no-such-page (the app’s 404)', missing);
    const internal = await curl(`${SITE}/metrics`);
    assertSecurityHeaders('GET /metrics (HAProxy’s 404)', internal);
    const post = await curl(`${SITE}/posts`, [
      '-H',
      'content-type: application/json',
      '--data',
      JSON.stringify({ id: `surface-${Date.now()}`, body: 'headers on a POST' }),
    ]);
    assert.ok(post.status >= 200 && post.status < 400, `POST /posts: ${post.status} ${post.body}`);
    assertSecurityHeaders(`POST /posts (${post.status})`, post);
    // The static assets nginx serves from disk (issue 11), found and missing.
    const stylesheet = /<link rel="stylesheet" href="(\/assets\/[^"]+)">/.exec(home.body)?.[1];
    assert.ok(stylesheet, 'the home page links its stylesheet');
    const asset = await curl(`${SITE}${stylesheet}`);
    assert.equal(asset.status, 200, `${stylesheet}: ${asset.status}`);
    assertSecurityHeaders(`GET ${stylesheet} (nginx, from disk)`, asset);
    const noAsset = await curl(`${SITE}/assets/missing.00000000.css`);
    assert.equal(noAsset.status, 404);
    assertSecurityHeaders('GET a missing asset (nginx’s 404)', noAsset);
    for (const [what, a] of [
      ['GET /', home],
      ['404', missing],
      ['POST', post],
      ['asset', asset],
      ['missing asset', noAsset],
    ] as const) {
      const shown = [
        'x-content-type-options',
        'referrer-policy',
        'content-security-policy',
        'strict-transport-security',
      ]
        .map((h) => `${h}: ${a.headers.get(h)}`)
        .join(' | ');
      process.stdout.write(`# ${what} ${a.status}: ${shown}\n`);
    }
  });

  it('answers a 64 KiB header with 431 and a body, over HTTP/1.1 and HTTP/2', async () => {
    // curl's HTTP/2 library refuses to send one header field of 64 KiB or more
    // (nghttp2's limit of 65536 bytes for name and value), so HTTP/2 sends 65000 bytes.
    for (const [flag, size] of [
      ['--http1.1', 65536],
      ['--http2', 65000],
    ] as const) {
      const a = await curl(`${SITE}/`, [flag, '-H', `X-Big: ${'a'.repeat(size)}`]);
      process.stdout.write(`# ${flag} header of ${size} bytes: ${a.status} ${JSON.stringify(a.body)}\n`);
      assert.equal(a.code, 0, `${flag}: curl exit ${a.code}`);
      assert.equal(a.status, 431, flag);
      assert.equal(a.body, 'Request header fields too large', flag);
      assertSecurityHeaders(`431 over ${flag}`, a);
    }
  });

  it(
    'answers a 100 KB header (beyond its buffer) with its own 400 page over HTTP/1.1',
    {
      todo: "racy: HAProxy answers 400 and closes while curl is still sending, and the client's kernel may drop the answer on the reset (status 0 once in a fresh-clone CI run; 400 in the other runs)",
    },
    async () => {
      const huge = await curl(`${SITE}/`, ['--http1.1', '-H', `X-Big: ${'a'.repeat(100_000)}`]);
      process.stdout.write(`# --http1.1 header of 100000 bytes: ${huge.status}\n`);
      assert.equal(huge.status, 400);
      assert.match(huge.body, /400 Bad request/);
    },
  );

  it('the LBs ask the app’s readiness through nginx; the app’s private listener answers neither them nor the client', async () => {
    assert.ok(servers.length >= 2, `app hosts: ${servers.map((s) => s.name)}`);
    for (const { name, address } of servers) {
      // nginx passes /readyz to the app's private listener in the slot it runs in (issue 11).
      const viaNginx = await curl(`http://${address}:80/readyz`, [], `tandem-${NAME}-lb-1`);
      assert.equal(
        viaNginx.status,
        200,
        `${name} /readyz through nginx from lb-1: ${viaNginx.status} ${viaNginx.body}`,
      );
      assert.match(viaNginx.body, /"ready":true/);
      // The private listener itself: the firewall admits only the monitor (none here).
      for (const ns of [`tandem-${NAME}-lb-1`, CLIENT_NS]) {
        const direct = await curl(`http://${address}:${ADMIN_PORT}/healthz`, ['--connect-timeout', '2'], ns);
        assert.equal(direct.status, 0, `${name} private listener from ${ns}: ${direct.status}`);
        assert.notEqual(direct.code, 0);
      }
    }
  });

  it('the LBs’ checks pass on the private listener: every web server is UP with L7OK', async () => {
    // The app's public port answers /readyz with 404: an L7OK comes from its private one, through nginx.
    const deadline = Date.now() + 10_000;
    let backends = (await stack.status()).lb.backends;
    while (Date.now() < deadline && !backends.every((b) => b.check === 'L7OK')) {
      await sleep(500);
      backends = (await stack.status()).lb.backends;
    }
    assert.ok(backends.length >= 4, `${backends.length} backend entries`);
    for (const b of backends) {
      assert.equal(b.status, 'UP', `${b.lb}/${b.server}`);
      assert.equal(b.check, 'L7OK', `${b.lb}/${b.server}`);
    }
  });
});
