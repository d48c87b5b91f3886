/**
 * nginx 1.22 main configuration for one web host: tandem's own file, not Debian's
 * (no default server on :80, no TLSv1/1.1). nginx runs in the foreground under the
 * supervisor (`daemon off`), every writable path inside the service directory.
 */
import path from 'node:path';
import { ASSETS_PREFIX } from '../app/assets.ts';
import { hostPaths, servicePaths } from '../config/paths.ts';
import type { Plan } from '../config/types.ts';
import { header, lbAddresses, serviceOn } from './service.ts';
import { appAdminPort } from '../deploy/releases.ts';

/** Name of the upstream block over the app servers. */
const UPSTREAM = 'app';

/** Path the LBs' health checks ask for: the local app's readiness, which nginx passes on. */
export const READINESS_PATH = '/readyz';

/** Location of the stub_status page the nginx exporter scrapes. */
export const NGINX_STATUS_PATH = '/nginx_status';

/**
 * Temp directories nginx needs, relative to the service's data directory. nginx creates
 * the last path component itself (also under `nginx -t`); the data directory must exist.
 */
export const NGINX_TEMP_DIRS = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'] as const;

/**
 * nginx's own pid file. Deliberately not `servicePaths().pid`: the supervisor writes
 * that one, and nginx deletes its pid file when it exits; two writers on one file
 * would race.
 */
export function nginxPidFile(dataDir: string): string {
  return path.join(dataDir, 'nginx.pid');
}

/** nginx's access log: one JSON line per request (`log_format tandem` below). */
export function nginxAccessLog(serviceDir: string): string {
  return path.join(serviceDir, 'access.log');
}

/**
 * One JSON line per request, with the request id HAProxy sets (X-Request-Id, passed on
 * to the app as it came): the same id as in HAProxy's and the app's lines. `time` is
 * epoch seconds with milliseconds, `seconds` the time nginx took.
 */
const ACCESS_LOG_FORMAT = [
  '{"time":$msec',
  '"reqId":"$http_x_request_id"',
  '"client":"$remote_addr"',
  '"method":"$request_method"',
  '"uri":"$request_uri"',
  '"status":$status',
  '"bytes":$body_bytes_sent',
  '"seconds":$request_time',
  '"upstream":"$upstream_addr"',
  '"upstreamStatus":"$upstream_status"}',
].join(',');

/** The URL the nginx exporter on a web host reads; only with a monitor host. */
export function stubStatusUrl(plan: Plan, address: string): string {
  if (!plan.monitor) throw new Error('the plan has no monitor: nginx serves no stub_status listener');
  return `http://${address}:${plan.monitor.stubStatusPort}${NGINX_STATUS_PATH}`;
}

/**
 * With a monitor host: a listener of its own for the nginx exporter beside nginx. The
 * firewall opens its port to no one, and nginx answers only the host itself (over `lo`,
 * a connection to the host's own address comes from that address).
 */
function stubStatusServer(plan: Plan, address: string): string[] {
  if (!plan.monitor) return [];
  return [
    '',
    '    server {',
    `        listen ${address}:${plan.monitor.stubStatusPort};`,
    `        location = ${NGINX_STATUS_PATH} {`,
    '            stub_status;',
    `            allow ${address};`,
    '            allow 127.0.0.1;',
    '            deny all;',
    '        }',
    '        location / {',
    '            return 404;',
    '        }',
    '    }',
  ];
}

/**
 * How long nginx waits for a replayable request's answer before it asks the backup: a
 * frozen app's request is answered by another app well within the chaos bound (2 s).
 * The app's slowest legitimate answer is ~1.1 s (a 1 s semi-sync or GTID wait, then the
 * query); a request past this bound is repeated on the backup, which is safe here.
 */
const REPLAYABLE_READ_TIMEOUT = '1200ms';

/** The proxying lines of an app location; `nextUpstream` says what may be replayed. */
function proxyLines(
  trusted: readonly string[],
  address: string,
  options: { readTimeout: string; nextUpstream: string },
): string[] {
  return [
    // The real client address comes from the LB's X-Forwarded-For (its last entry: the
    // address HAProxy saw, whatever a client forged before it). Only in the app
    // locations: the status page below must judge the connection's own peer address.
    ...trusted.map((a) => `            set_real_ip_from ${a};`),
    '            real_ip_header X-Forwarded-For;',
    `            proxy_pass http://${UPSTREAM};`,
    '            proxy_http_version 1.1;',
    '            proxy_set_header Connection "";',
    '            proxy_set_header Host $host;',
    '            proxy_set_header X-Forwarded-For $tandem_forwarded_for;',
    '            proxy_set_header X-Forwarded-Proto $tandem_forwarded_proto;',
    '            proxy_set_header X-Real-IP $remote_addr;',
    // On loopback a connection would otherwise leave from 127.0.0.1.
    `            proxy_bind ${address};`,
    // A backup on a vanished host (netns: packets dropped) is given up on quickly.
    '            proxy_connect_timeout 500ms;',
    '            proxy_send_timeout 30s;',
    `            proxy_read_timeout ${options.readTimeout};`,
    `            proxy_next_upstream ${options.nextUpstream};`,
    '            proxy_next_upstream_tries 2;',
  ];
}

/**
 * How long browsers and caches keep an asset: its name changes with its content
 * (app/assets.ts), so a name stands for the same bytes forever.
 */
export const ASSET_CACHE_CONTROL = 'public, max-age=31536000, immutable';

/**
 * The code base's static assets, straight from this host's assets folder (built by
 * `up`, orchestrate/assets.ts), never proxied: a missing one is nginx's own 404. `^~`:
 * no other location is considered for the prefix. The gzip copy beside each file is sent
 * to clients that accept it (`gzip_static`); nothing is compressed per request.
 */
function assetsLocation(assetsDir: string): string[] {
  return [
    `        location ^~ ${ASSETS_PREFIX} {`,
    `            alias ${assetsDir}/;`,
    '            try_files $uri =404;',
    '            gzip_static on;',
    '            gzip_vary on;',
    '            charset utf-8;',
    '            charset_types text/css application/javascript image/svg+xml;',
    // Only on 200 and 304 (no `always`): a 404 is not to be kept.
    `            add_header Cache-Control "${ASSET_CACHE_CONTROL}";`,
    '        }',
  ];
}

/**
 * The load balancers' readiness check of the local app, passed to its private listener
 * in the slot the app runs in now (`tandem deploy` moves it): HAProxy's config need not
 * change when the app does. HAProxy answers this path 404 to clients (INTERNAL_PATHS),
 * and nginx admits only the LBs and the host itself. Without a local app: none.
 */
function readinessLocation(plan: Plan, address: string, trusted: readonly string[]): string[] {
  const app = plan.services.find((s) => s.kind === 'app' && s.address === address);
  if (!app) return [];
  return [
    `        location = ${READINESS_PATH} {`,
    '            access_log off;',
    `            allow ${address};`,
    '            allow 127.0.0.1;',
    ...trusted.map((a) => `            allow ${a};`),
    '            deny all;',
    `            proxy_pass http://${address}:${appAdminPort(plan, app)};`,
    `            proxy_bind ${address};`,
    '            proxy_connect_timeout 500ms;',
    '            proxy_read_timeout 1s;',
    '        }',
    '',
  ];
}

/** Full `nginx.conf` for the web host `webHostName`. */
export function renderNginx(plan: Plan, webHostName: string): string {
  const { host, service } = serviceOn(plan, webHostName, 'nginx');
  const paths = servicePaths(service);
  const upstreams = plan.web.upstreams[host.name] ?? [];
  if (upstreams.length === 0) throw new Error(`web host ${host.name} has no app upstream in the plan`);
  const trusted = lbAddresses(plan);
  const hasBackups = upstreams.some((u) => u.backup);
  const temp = (name: (typeof NGINX_TEMP_DIRS)[number]) => path.join(paths.data, name);
  // Exactly the app's limit: nginx refuses a larger body from its Content-Length
  // before reading it, so an oversized upload never reaches (or ties up) the app.
  const bodyLimit = plan.app.bodyLimit;

  const lines = [
    header('#', `nginx for ${host.name} (${host.address}) of stack ${plan.name}`),
    'daemon off;',
    // The workers read the assets in the state folder, which (a home or a temp folder, as
    // for every service of the stack) only its owner may enter; nginx's default worker
    // user, nobody, could not. Ignored when tandem does not run as root.
    'user root;',
    'master_process on;',
    `worker_processes ${plan.web.workers};`,
    // The hard open-files limit here is 20000.
    'worker_rlimit_nofile 16384;',
    // Bounds a graceful stop (SIGQUIT) and the old workers of a reload (SIGHUP).
    'worker_shutdown_timeout 30s;',
    `pid ${nginxPidFile(paths.data)};`,
    `error_log ${paths.log} warn;`,
    '',
    'events {',
    '    worker_connections 4096;',
    '}',
    '',
    'http {',
    '    include /etc/nginx/mime.types;',
    '    default_type application/octet-stream;',
    '    server_tokens off;',
    `    log_format tandem escape=json '${ACCESS_LOG_FORMAT}';`,
    // Buffered: one write per 64 KiB or per second, not per request.
    `    access_log ${nginxAccessLog(paths.dir)} tandem buffer=64k flush=1s;`,
    '    sendfile on;',
    '    tcp_nopush on;',
    '    tcp_nodelay on;',
    '',
    `    client_body_temp_path ${temp('client_body')};`,
    `    proxy_temp_path ${temp('proxy')};`,
    `    fastcgi_temp_path ${temp('fastcgi')};`,
    `    uwsgi_temp_path ${temp('uwsgi')};`,
    `    scgi_temp_path ${temp('scgi')};`,
    '',
    // Client side (the LBs): idle connections live well beyond HAProxy's idle-pool
    // purge, so HAProxy's `http-reuse always` never sends on a socket we just closed.
    '    keepalive_timeout 75s;',
    '    keepalive_requests 10000;',
    '    client_header_timeout 10s;',
    '    client_body_timeout 10s;',
    '    send_timeout 30s;',
    `    client_max_body_size ${bodyLimit};`,
    // Bodies up to the limit stay in memory instead of a temp file.
    `    client_body_buffer_size ${bodyLimit};`,
    '',
    // After realip, $remote_addr is the client, so $proxy_add_x_forwarded_for would name
    // it twice; append the LB's address instead to keep the chain true.
    '    map $http_x_forwarded_for $tandem_forwarded_for {',
    '        "" $realip_remote_addr;',
    '        default "$http_x_forwarded_for, $realip_remote_addr";',
    '    }',
    // HAProxy sets X-Forwarded-Proto (https once TLS terminates there); direct hits use our scheme.
    '    map $http_x_forwarded_proto $tandem_forwarded_proto {',
    '        "" $scheme;',
    '        default $http_x_forwarded_proto;',
    '    }',
    // Requests that must reach an app at most once: any method but GET and HEAD, unless
    // the client made it safe to repeat with an Idempotency-Key (README: retries).
    '    map "$request_method $http_idempotency_key" $tandem_send_once {',
    '        "~^(GET|HEAD) " 0;',
    '        "~^[A-Z]+ ." 0;',
    '        default 1;',
    '    }',
    '',
    `    upstream ${UPSTREAM} {`,
    // Backups (the other app servers) take over a request only when the local app refuses
    // connections (a POST then goes on, since nothing was sent yet: kill-app chaos) or,
    // for a replayable request, fails or does not answer in time. The local app is never
    // shunned for it (max_fails=0): a dead one refuses at once, and one slow answer must not
    // send everything to a backup that may sit on a dead host (netns kill-server).
    ...upstreams.map(
      (u) =>
        `        server ${u.address}:${u.port}${u.backup ? ' backup' : hasBackups ? ' max_fails=0' : ' max_fails=1 fail_timeout=2s'};`,
    ),
    '        keepalive 64;',
    // Below the app's keepAliveTimeout (65 s): nginx drops an idle socket before Node
    // does, so it never reuses one Node has closed (sporadic 502s otherwise).
    '        keepalive_timeout 30s;',
    '        keepalive_requests 10000;',
    '    }',
    '',
    '    server {',
    `        listen ${host.address}:${plan.web.port};`,
    `        server_name ${[...plan.hostnames, '_'].join(' ')};`,
    '',
    '        location / {',
    // A request that must reach an app at most once has a location of its own: nginx
    // decides replays per location (`proxy_next_upstream`), not per request.
    '            error_page 418 = @once;',
    '            if ($tandem_send_once) {',
    '                return 418;',
    '            }',
    ...proxyLines(trusted, host.address, {
      readTimeout: REPLAYABLE_READ_TIMEOUT,
      // Everything here is safe to repeat: GET, HEAD, or a request with an Idempotency-Key.
      nextUpstream: 'error timeout non_idempotent',
    }),
    '        }',
    '',
    '        location @once {',
    ...proxyLines(trusted, host.address, {
      readTimeout: '30s',
      // `non_idempotent` is absent: a POST is not replayed once sent.
      nextUpstream: 'error timeout',
    }),
    '        }',
    '',
    ...assetsLocation(hostPaths(host).assets),
    '',
    ...readinessLocation(plan, host.address, trusted),
    `        location = ${NGINX_STATUS_PATH} {`,
    '            stub_status;',
    // Health checks and scrapes several times a second: not requests worth a line.
    '            access_log off;',
    `            allow ${host.address};`,
    '            allow 127.0.0.1;',
    // The load balancers' health check asks it before the app's readiness (haproxy.ts).
    ...trusted.map((a) => `            allow ${a};`),
    '            deny all;',
    '        }',
    '    }',
    ...stubStatusServer(plan, host.address),
    '}',
    '',
  ];
  return lines.join('\n');
}
