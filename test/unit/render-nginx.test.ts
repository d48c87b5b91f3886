import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ASSETS_PREFIX, readAssetSources } from '../../src/app/assets.ts';
import { hostPaths, servicePaths } from '../../src/config/paths.ts';
import { BUNDLED_APP_DIR } from '../../src/orchestrate/config-loader.ts';
import { nginxEngine } from '../../src/engines/nginx.ts';
import { NGINX_TEMP_DIRS, nginxAccessLog, nginxPidFile, renderNginx } from '../../src/render/nginx.ts';
import {
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

const MIME_TYPES = '/etc/nginx/mime.types';

/** Trimmed lines, so assertions do not depend on indentation. */
function directives(text: string): string[] {
  return linesOf(text).map((l) => l.trim());
}

describe('renderNginx', () => {
  it('listens on the web host address for the site names and proxies to the local app, the others as backup', () => {
    const plan = planOf(DEFAULT_STACK);
    const d = directives(renderNginx(plan, 'server-1'));

    assert.ok(d.includes('listen 127.60.0.12:80;'));
    assert.ok(d.includes('server_name foobar.com www.foobar.com _;'));
    assert.deepEqual(
      d.filter((l) => l.startsWith('server 127.')),
      ['server 127.60.0.12:3000 max_fails=0;', 'server 127.60.0.13:3000 backup;'],
    );
    assert.ok(d.includes('proxy_bind 127.60.0.12;'));
    // The site, and (with the default design's monitor) the stub_status listener for its exporter.
    assert.deepEqual(
      d.filter((l) => l.startsWith('listen ')),
      ['listen 127.60.0.12:80;', 'listen 127.60.0.12:8080;'],
    );
    assert.ok(!d.some((l) => l.includes('default_server')));
  });

  it('runs in the foreground with every writable path inside the service directory', () => {
    const plan = planOf(DEFAULT_STACK);
    const service = servicesOf(plan, 'nginx').find((s) => s.host === 'server-2')!;
    const paths = servicePaths(service);
    const d = directives(renderNginx(plan, 'server-2'));

    assert.ok(d.includes('daemon off;'));
    assert.ok(d.includes('master_process on;'));
    assert.ok(d.includes('worker_processes 1;'));
    assert.ok(d.includes(`pid ${nginxPidFile(paths.data)};`));
    assert.ok(d.includes(`error_log ${paths.log} warn;`));
    assert.ok(d.includes(`access_log ${nginxAccessLog(paths.dir)} tandem buffer=64k flush=1s;`));
    for (const name of NGINX_TEMP_DIRS) {
      assert.ok(d.includes(`${name}_temp_path ${path.join(paths.data, name)};`), `${name}_temp_path`);
    }
    const pathDirectives = d.filter((l) => /^(pid|error_log|access_log(?! off)|\w+_temp_path) /.test(l));
    assert.equal(pathDirectives.length, 3 + NGINX_TEMP_DIRS.length);
    for (const l of pathDirectives) assert.ok(l.split(' ')[1]!.startsWith(`${paths.dir}/`), l);
  });

  it('keeps upstream connections alive, idle for less than the app keeps them (65 s)', () => {
    const d = directives(renderNginx(planOf(DEFAULT_STACK), 'server-1'));
    for (const expected of [
      'keepalive 64;',
      'proxy_http_version 1.1;',
      'proxy_set_header Connection "";',
      'proxy_set_header Host $host;',
      'proxy_set_header X-Forwarded-Proto $tandem_forwarded_proto;',
      'client_header_timeout 10s;',
      'client_body_timeout 10s;',
    ]) {
      assert.ok(d.includes(expected), `missing: ${expected}`);
    }
    const upstreamBlock = d.slice(d.indexOf('upstream app {'), d.indexOf('}', d.indexOf('upstream app {')));
    const idle = upstreamBlock.find((l) => l.startsWith('keepalive_timeout '));
    assert.equal(idle, 'keepalive_timeout 30s;');
    assert.ok(Number.parseInt(idle!.split(' ')[1]!, 10) < 65);
  });

  // What nginx does with them (which client address the app is told, who may read the
  // status page, what is retried and that a POST is not replayed) is shown by the real
  // nginx in test/integration/nginx-behaviour.test.ts.
  it("derives the trusted proxies from the plan's load balancers", () => {
    // Once in each of the two app locations (`/` and `@once`).
    const d = directives(renderNginx(planOf(DEFAULT_STACK), 'server-1'));
    assert.deepEqual(
      d.filter((l) => l.startsWith('set_real_ip_from ')),
      ['set_real_ip_from 127.60.0.11;', 'set_real_ip_from 127.60.0.11;'],
    );
    const three = directives(renderNginx(planOf(THREE_TIER_STACK), 'web-1'));
    assert.deepEqual(
      three.filter((l) => l.startsWith('set_real_ip_from ')),
      ['set_real_ip_from 127.62.0.11;', 'set_real_ip_from 127.62.0.11;'],
    );
    assert.ok(d.includes('real_ip_header X-Forwarded-For;'));
    const status = d.slice(d.indexOf('location = /nginx_status {'));
    assert.deepEqual(status.slice(0, 8), [
      'location = /nginx_status {',
      'stub_status;',
      'access_log off;',
      'allow 127.60.0.12;',
      'allow 127.0.0.1;',
      // The LB's health check asks it first.
      'allow 127.60.0.11;',
      'deny all;',
      '}',
    ]);
  });

  it('limits bodies to exactly the app limit and takes the worker count from the plan', () => {
    const d = directives(renderNginx(planOf({ app: { bodyLimit: 1_000_000 }, web: { workers: 2 } }), 'server-1'));

    assert.ok(d.includes('client_max_body_size 1000000;'));
    assert.ok(d.includes('worker_processes 2;'));
  });

  it('proxies to every app host in the three-tier variant, leaving from its own address', () => {
    const d = directives(renderNginx(planOf(THREE_TIER_STACK), 'web-2'));

    assert.deepEqual(
      d.filter((l) => l.startsWith('server 127.')),
      ['server 127.62.0.14:3000 max_fails=1 fail_timeout=2s;', 'server 127.62.0.15:3000 max_fails=1 fail_timeout=2s;'],
    );
    assert.ok(d.includes('listen 127.62.0.13:80;'));
    assert.ok(d.includes('proxy_bind 127.62.0.13;'));
  });

  it('serves /assets/ from the web host’s own assets folder, never proxied, cached forever, gzip copies as they are', () => {
    const plan = planOf(DEFAULT_STACK);
    for (const web of ['server-1', 'server-2']) {
      const text = renderNginx(plan, web);
      const start = text.indexOf(`location ^~ ${ASSETS_PREFIX} {`);
      assert.ok(start > 0, `${web}: an assets location`);
      const block = directives(text.slice(start, text.indexOf('}', start))).filter((l) => l !== '');
      const host = plan.hosts.find((h) => h.name === web)!;
      assert.deepEqual(block.slice(1), [
        `alias ${hostPaths(host).assets}/;`,
        'try_files $uri =404;',
        'gzip_static on;',
        'gzip_vary on;',
        'charset utf-8;',
        'charset_types text/css application/javascript image/svg+xml;',
        'add_header Cache-Control "public, max-age=31536000, immutable";',
      ]);
      assert.ok(!block.some((l) => l.startsWith('proxy_')), 'nothing is proxied');
    }
  });

  it(
    'types every bundled asset by its extension through the mime.types it includes',
    { skip: !fs.existsSync(MIME_TYPES) && `${MIME_TYPES} is absent` },
    () => {
      const d = directives(renderNginx(planOf(DEFAULT_STACK), 'server-1'));
      assert.ok(d.includes(`include ${MIME_TYPES};`));
      const types = new Map<string, string>();
      for (const line of fs.readFileSync(MIME_TYPES, 'utf8').split('\n')) {
        const [type, ...exts] = line.trim().replace(/;$/, '').split(/\s+/);
        for (const ext of exts) types.set(ext, type!);
      }
      const expected: Record<string, string[]> = {
        css: ['text/css'],
        js: ['application/javascript', 'text/javascript'],
        svg: ['image/svg+xml'],
      };
      const names = readAssetSources(BUNDLED_APP_DIR).map((s) => s.name);
      assert.equal(names.length, 3);
      for (const name of names) {
        const ext = path.extname(name).slice(1);
        assert.ok(expected[ext]?.includes(types.get(ext) ?? ''), `${name}: ${types.get(ext)}`);
      }
    },
  );

  it('refuses a host without the web role', () => {
    assert.throws(() => renderNginx(planOf(THREE_TIER_STACK), 'app-1'), /app-1 runs no nginx service/);
  });
});

describe(
  'nginx -t on the rendered config',
  {
    skip: !installed(nginxEngine.binary) && 'nginx is not installed',
  },
  () => {
    for (const [name, config] of [
      ['default', DEFAULT_STACK],
      ['three-tier', THREE_TIER_STACK],
    ] as const) {
      it(`accepts every web host of the ${name} stack`, () => {
        const plan = planOf(config);
        writeStack(plan);
        const services = servicesOf(plan, 'nginx');
        assert.ok(services.length >= 2);
        for (const service of services) {
          const r = run(nginxEngine.checkCommand(servicePaths(service)));
          assert.equal(r.status, 0, r.stderr);
          assert.match(r.stderr, /test is successful/);
        }
      });
    }

    it('fails on a bogus directive, so the check can fail', () => {
      const plan = planOf(DEFAULT_STACK);
      writeStack(plan);
      const paths = servicePaths(servicesOf(plan, 'nginx')[0]!);
      fs.appendFileSync(paths.config, 'bogus_directive on;\n');

      const r = run(nginxEngine.checkCommand(paths));
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /unknown directive "bogus_directive"/);
    });
  },
);
