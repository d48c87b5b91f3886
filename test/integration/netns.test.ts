/**
 * netns hosting: real namespaces, a firewall per host, HTTPS, DNS and a load-balancer
 * pair holding a floating IP. Every client runs inside the `client` namespace.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StackConfig } from '../../src/config/types.ts';
import type { Outcome } from '../support/load.ts';
import { REPO, sleep, TestStack } from '../support/stack.ts';

const NAME = 'nstest';
const SUBNET = '10.79.0';
const VIP = `${SUBNET}.10`;
const CONFIG: StackConfig = { name: NAME, hosting: 'netns', network: { subnet: `${SUBNET}.0/24` } };
const CLIENT_NS = `tandem-${NAME}-client`;
const stack = new TestStack('netns', CONFIG);

function exec(argv: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      { timeout: timeoutMs, maxBuffer: 32 << 20 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 99
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(); // openssl s_client would otherwise wait for input
  });
}

const inNs = (ns: string, argv: string[], timeoutMs?: number) => exec(['ip', 'netns', 'exec', ns, ...argv], timeoutMs);
const client = (argv: string[], timeoutMs?: number) => inNs(CLIENT_NS, argv, timeoutMs);

let caFile = '';

/** A bounded load from the client namespace, through DNS and HTTPS, as a user would. */
async function clientLoad(durationMs: number): Promise<Outcome[]> {
  const opts = {
    url: 'https://www.foobar.com/',
    host: 'www.foobar.com',
    paths: ['/whoami'],
    concurrency: 4,
    durationMs,
    maxRequests: 50_000,
    timeoutMs: 500,
  };
  const r = await exec(
    [
      'ip',
      'netns',
      'exec',
      CLIENT_NS,
      'env',
      `NODE_EXTRA_CA_CERTS=${caFile}`,
      process.execPath,
      '--import',
      'tsx',
      path.join(REPO, 'test/support/load-cli.ts'),
      JSON.stringify(opts),
    ],
    durationMs + 30_000,
  );
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Outcome[];
}

/** The failure window: first failed request → first success after the last failure. */
function outage(outcomes: Outcome[]): { failed: number; windowMs: number } {
  const sorted = [...outcomes].sort((a, b) => a.start - b.start);
  const bad = sorted.filter((o) => o.status !== 200);
  if (bad.length === 0) return { failed: 0, windowMs: 0 };
  const firstBad = bad[0]!.start;
  const lastBad = bad[bad.length - 1]!;
  const recovered = sorted.find((o) => o.status === 200 && o.start >= lastBad.start);
  return { failed: bad.length, windowMs: (recovered?.end ?? lastBad.end) - firstBad };
}

async function vipHolder(): Promise<string | null> {
  return (await stack.status()).lb.vip?.holder ?? null;
}

function supervised(host: string): { supervisorPid: number; pid: number | null }[] {
  const dir = path.join(stack.dir, '.tandem', 'hosts', host);
  return fs
    .readdirSync(dir)
    .map((kind) => path.join(dir, kind, 'supervisor.json'))
    .filter((f) => fs.existsSync(f))
    .map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
}

describe('netns hosting: namespaces, firewall, HTTPS, DNS, floating IP', { timeout: 600_000 }, () => {
  before(async () => {
    await stack.up();
    caFile = (await stack.run('ca')).stdout.trim();
  });
  after(async () => {
    await stack.cleanup();
    // Nothing of the stack is left: namespaces, links, bridge.
    const { stdout: nss } = await exec(['ip', 'netns', 'list']);
    assert.doesNotMatch(nss, new RegExp(`tandem-${NAME}-`));
    const { stdout: links } = await exec(['ip', '-o', 'link', 'show']);
    const routes = JSON.parse(
      (await exec(['ip', '-j', 'route', 'show', `${SUBNET}.0/24`])).stdout || '[]',
    ) as unknown[];
    assert.equal(routes.length, 0, 'no route for the subnet is left');
    assert.doesNotMatch(links, /tn[0-9a-f]{5}(br|h\d|c)[:@]/, 'no bridge or veth is left');
  });

  it('serves https://www.foobar.com/ to the client, trusting tandem’s CA', async () => {
    assert.ok(fs.existsSync(caFile), `tandem ca printed ${caFile}`);
    const r = await client(['curl', '-sS', '--cacert', caFile, 'https://www.foobar.com/']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /<h1>foobar\.com<\/h1>/);
    const head = await client([
      'curl',
      '-sS',
      '-o',
      '/dev/null',
      '-D',
      '-',
      '--cacert',
      caFile,
      'https://foobar.com/whoami',
    ]);
    assert.match(head.stdout, /strict-transport-security: max-age=63072000; includeSubDomains/i);
    const alpn = await client([
      'curl',
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_version}',
      '--cacert',
      caFile,
      'https://www.foobar.com/',
    ]);
    assert.equal(alpn.stdout, '2', 'ALPN negotiated HTTP/2');
  });

  it('answers http:// with a 308 to https', async () => {
    const r = await client([
      'curl',
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{redirect_url}',
      'http://www.foobar.com/posts?x=1',
    ]);
    assert.equal(r.stdout, '308 https://www.foobar.com/posts?x=1');
  });

  it('refuses TLS 1.0 and 1.1, accepts 1.2 and 1.3', async () => {
    const handshake = async (flag: string) => {
      // SECLEVEL=0 lets this client offer the old protocols: the refusal must be the server's.
      const r = await client(
        [
          'openssl',
          's_client',
          '-connect',
          `${VIP}:443`,
          '-servername',
          'www.foobar.com',
          flag,
          '-cipher',
          'DEFAULT@SECLEVEL=0',
        ],
        15_000,
      );
      // "New, TLSv1.2, Cipher is ECDHE-…" on success; "New, (NONE), Cipher is (NONE)" when refused.
      return /New, TLSv1(\.\d)?, Cipher is (?!\(NONE\))/.test(r.stdout);
    };
    assert.equal(await handshake('-tls1'), false, 'TLS 1.0 refused');
    assert.equal(await handshake('-tls1_1'), false, 'TLS 1.1 refused');
    assert.equal(await handshake('-tls1_2'), true, 'TLS 1.2 accepted');
    assert.equal(await handshake('-tls1_3'), true, 'TLS 1.3 accepted');
  });

  it('a scan from the client finds only 80 and 443 open, on the VIP; 3306 is open from an app host', async () => {
    const status = await stack.status();
    const targets = [VIP, ...status.hosts.filter((h) => h.name !== 'client').map((h) => h.address)];
    const r = await client(
      [
        'nmap',
        '-Pn',
        '-sT',
        '-n',
        '-T5',
        '--max-retries',
        '0',
        '-p',
        '22,53,80,443,3000,3306,8080,8405,9100',
        '-oG',
        '-',
        ...targets,
      ],
      120_000,
    );
    assert.equal(r.code, 0, r.stderr);
    const open = [...r.stdout.matchAll(/Host: (\S+).*Ports: (.*)/g)].flatMap(([, host, ports]) =>
      ports!
        .split(', ')
        .filter((p) => p.includes('/open/'))
        .map((p) => `${host}:${p.split('/')[0]}`),
    );
    assert.deepEqual(open.sort(), [`${VIP}:443`, `${VIP}:80`]);
    assert.match(r.stdout, new RegExp(`Host: ${SUBNET}\\.13 .*3306/filtered`), '3306 filtered from the client');
    const fromApp = await inNs(`tandem-${NAME}-server-1`, [
      'nmap',
      '-Pn',
      '-sT',
      '-n',
      '-p',
      '3306',
      '-oG',
      '-',
      `${SUBNET}.14`,
    ]);
    assert.match(fromApp.stdout, /3306\/open/);
  });

  it('status shows which LB holds the VIP', async () => {
    assert.equal(await vipHolder(), 'lb-1');
  });

  it('killing the active LB’s HAProxy moves traffic on; requests fail only briefly', async () => {
    const holder = (await vipHolder())!;
    const haproxy = JSON.parse(
      fs.readFileSync(path.join(stack.dir, '.tandem/hosts', holder, 'haproxy/supervisor.json'), 'utf8'),
    );
    const load = clientLoad(5000);
    await sleep(1500);
    process.kill(haproxy.pid, 'SIGKILL');
    const outcomes = await load;
    const o = outage(outcomes);
    process.stdout.write(
      `# kill ${holder}/haproxy: ${o.failed} of ${outcomes.length} requests failed over ${o.windowMs} ms\n`,
    );
    assert.ok(outcomes.filter((x) => x.status === 200).length > 100);
    assert.ok(o.windowMs < 3000, `traffic resumed after ${o.windowMs} ms`);
    const tail = outcomes.filter((x) => x.start > Date.now() - 1500);
    assert.ok(
      tail.every((x) => x.status === 200),
      'the last 1.5 s all succeeded',
    );
  });

  it('killing the active LB host (processes and link) moves the VIP; traffic resumes', async () => {
    const holder = (await vipHolder())!;
    const load = clientLoad(6000);
    await sleep(1500);
    // Host death: every process of the host (supervisors first, so nothing restarts), then its link.
    for (const s of supervised(holder)) process.kill(s.supervisorPid, 'SIGKILL');
    for (const s of supervised(holder)) if (s.pid) process.kill(s.pid, 'SIGKILL');
    const hostLink = await linkOf(holder);
    await exec(['ip', 'link', 'set', hostLink, 'down']);
    const outcomes = await load;
    const o = outage(outcomes);
    process.stdout.write(
      `# kill host ${holder}: ${o.failed} of ${outcomes.length} requests failed over ${o.windowMs} ms\n`,
    );
    const other = holder === 'lb-1' ? 'lb-2' : 'lb-1';
    assert.equal(await vipHolder(), other);
    assert.ok(o.windowMs < 3000, `traffic resumed after ${o.windowMs} ms`);
    const tail = outcomes.filter((x) => x.start > Date.now() - 1500);
    assert.ok(tail.length > 0 && tail.every((x) => x.status === 200), 'the last 1.5 s all succeeded');
    // Heal: `up` brings the host back (link up, services restarted).
    await exec(['ip', 'link', 'set', hostLink, 'up']);
    await stack.up();
    const healed = await stack.status();
    assert.ok(healed.hosts.find((h) => h.name === holder)?.services.every((s) => s.state === 'running'));
  });
});

async function linkOf(host: string): Promise<string> {
  // The root end of the host's veth: its peer index is the host's eth0.
  const { stdout } = await exec(['ip', '-n', `tandem-${NAME}-${host}`, '-o', 'link', 'show', 'eth0']);
  const peer = /eth0@if(\d+)/.exec(stdout)?.[1];
  const { stdout: all } = await exec(['ip', '-o', 'link', 'show']);
  const line = all.split('\n').find((l) => l.startsWith(`${peer}:`));
  const name = line?.split(': ')[1]?.split('@')[0];
  if (!name) throw new Error(`no root link for ${host}`);
  return name;
}
