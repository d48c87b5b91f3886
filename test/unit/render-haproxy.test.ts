import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import { haproxyEngine } from '../../src/engines/haproxy.ts';
import { HAPROXY_METRICS_PORT, haproxyServiceFor, renderHaproxy } from '../../src/render/haproxy.ts';
import {
  ACTIVE_PASSIVE_STACK,
  DEFAULT_STACK,
  installed,
  linesOf,
  planOf,
  removeTempDirs,
  run,
  servicesOf,
  THREE_TIER_STACK,
  writeStack,
} from './fixtures/plans.ts';

after(removeTempDirs);

const CHECK_LINE =
  '    default-server check inter 300ms fastinter 200ms fall 2 rise 3 observe layer7 error-limit 10 on-error mark-down on-marked-down shutdown-sessions';

describe('renderHaproxy', () => {
  it('balances round robin over both servers of the default stack, none of them backup', () => {
    const plan = planOf(DEFAULT_STACK);
    const lines = linesOf(renderHaproxy(plan, 'lb-1'));

    assert.ok(lines.includes('    balance roundrobin'));
    assert.ok(lines.includes('    server server-1 127.60.0.12:80'));
    assert.ok(lines.includes('    server server-2 127.60.0.13:80'));
    assert.equal(lines.filter((l) => l.startsWith('    server ')).length, 2);
    assert.ok(!lines.some((l) => l.includes('backup')));
    assert.ok(lines.includes(CHECK_LINE));
  });

  it('binds the public port and the metrics port on the LB address, and the admin socket from servicePaths', () => {
    const plan = planOf(DEFAULT_STACK);
    const lines = linesOf(renderHaproxy(plan, 'lb-1'));
    const socket = servicePaths(haproxyServiceFor(plan, 'lb-1')).socket;

    assert.ok(lines.includes('    bind 127.60.0.11:80'));
    assert.ok(lines.includes(`    bind 127.60.0.11:${HAPROXY_METRICS_PORT}`));
    assert.equal(HAPROXY_METRICS_PORT, 8405);
    assert.ok(lines.includes(`    stats socket ${socket} mode 600 level admin expose-fd listeners`));
    assert.ok(lines.includes('    http-request use-service prometheus-exporter if { path /metrics }'));
    assert.ok(lines.includes('    maxconn 4096'));
    assert.ok(lines.includes('    log stdout format iso local0 info'));
    // Connections to the web servers leave from the LB's own address.
    assert.ok(lines.includes('    source 127.60.0.11'));
  });

  // Which requests are retried, and that a POST is not replayed, is shown by the real
  // HAProxy in test/integration/haproxy-behaviour.test.ts, not by the config's text.
  it('checks readiness, forwards the client address and sets timeouts', () => {
    const lines = linesOf(renderHaproxy(planOf(DEFAULT_STACK), 'lb-1'));
    for (const expected of [
      '    option httpchk',
      '    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host foobar.com',
      '    http-check expect status 200',
      '    option forwardfor',
      '    http-reuse always',
      '    timeout connect 500ms',
      '    timeout client 30s',
      '    timeout server 30s',
      '    timeout http-request 5s',
      '    timeout http-keep-alive 10s',
      '    timeout queue 5s',
      '    http-request set-header X-Request-Id %[unique-id]',
    ]) {
      assert.ok(lines.includes(expected), `missing line: ${expected}`);
    }
    assert.ok(!lines.some((l) => l.includes('http-server-close')));
    assert.ok(!lines.some((l) => /^\s*(daemon|pidfile)\b/.test(l)));
  });

  it('marks all but the first server backup in active-passive mode, with leastconn', () => {
    const lines = linesOf(renderHaproxy(planOf(ACTIVE_PASSIVE_STACK), 'lb-1'));

    assert.ok(lines.includes('    balance leastconn'));
    assert.ok(lines.includes('    server server-1 127.60.0.12:80'));
    assert.ok(lines.includes('    server server-2 127.60.0.13:80 backup'));
    assert.ok(lines.includes('    option allbackups'));
  });

  it('balances over the web hosts only in the three-tier variant', () => {
    const lines = linesOf(renderHaproxy(planOf(THREE_TIER_STACK), 'lb-1'));
    const servers = lines.filter((l) => l.startsWith('    server '));

    assert.deepEqual(servers, ['    server web-1 127.62.0.12:80', '    server web-2 127.62.0.13:80']);
    assert.ok(lines.includes('    bind 127.62.0.11:80'));
    assert.ok(!lines.includes('    option allbackups'));
  });

  it('takes maxconn, port and balance from the plan', () => {
    const plan = planOf({ lb: { maxconn: 9000, port: 8080, balance: 'source' } });
    const lines = linesOf(renderHaproxy(plan, 'lb-1'));

    assert.ok(lines.includes('    maxconn 9000'));
    assert.ok(lines.includes('    bind 127.60.0.11:8080'));
    assert.ok(lines.includes('    balance source'));
  });

  it('renders no rate limit by default, and the one lb.rateLimit asks for', () => {
    const off = linesOf(renderHaproxy(planOf(DEFAULT_STACK), 'lb-1'));
    assert.ok(!off.some((l) => /stick-table|track-sc|deny_status/.test(l)));

    const on = linesOf(renderHaproxy(planOf({ lb: { rateLimit: { requests: 50, perSeconds: 5 } } }), 'lb-1'));
    assert.ok(on.includes('    stick-table type ip size 100k expire 5s store http_req_rate(5s)'));
    assert.ok(on.includes('    http-request deny deny_status 429 hdr Retry-After 5 if { sc_http_req_rate(0) gt 50 }'));
    const window = linesOf(renderHaproxy(planOf({ lb: { rateLimit: { requests: 50 } } }), 'lb-1'));
    assert.ok(
      window.includes('    stick-table type ip size 100k expire 10s store http_req_rate(10s)'),
      'a 10 s window by default',
    );
  });

  it('refuses a host that is not a load balancer', () => {
    const plan = planOf(DEFAULT_STACK);
    assert.throws(() => renderHaproxy(plan, 'server-1'), /server-1 runs no haproxy service/);
    assert.throws(() => haproxyServiceFor(plan, 'nope'), /no host named nope/);
  });
});

describe(
  'haproxy -c on the rendered config',
  {
    skip: !installed(haproxyEngine.binary) && 'haproxy is not installed',
  },
  () => {
    for (const [name, config] of [
      ['default', DEFAULT_STACK],
      ['active-passive', ACTIVE_PASSIVE_STACK],
      ['three-tier', THREE_TIER_STACK],
      ['rate-limited', { lb: { rateLimit: { requests: 100 } } }],
    ] as const) {
      it(`accepts the ${name} stack without warnings`, () => {
        const plan = planOf(config);
        writeStack(plan);
        for (const service of servicesOf(plan, 'haproxy')) {
          const r = run(haproxyEngine.checkCommand(servicePaths(service)));
          assert.equal(r.status, 0, r.stderr);
          assert.doesNotMatch(r.stderr, /WARNING|ALERT/);
        }
      });
    }

    it('fails on a bogus keyword, so the check can fail', () => {
      const plan = planOf(DEFAULT_STACK);
      writeStack(plan);
      const paths = servicePaths(haproxyServiceFor(plan, 'lb-1'));
      fs.writeFileSync(
        paths.config,
        fs.readFileSync(paths.config, 'utf8').replace('global\n', 'global\n    bogus-keyword 1\n'),
      );

      const r = run(haproxyEngine.checkCommand(paths));
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /bogus-keyword/);
    });
  },
);
