/**
 * HAProxy 2.6 configuration for one load-balancer host. HAProxy runs in the
 * foreground under tandem's supervisor in master-worker mode (`-W -db`, reload by
 * SIGUSR2), so there is no `daemon`, no pidfile and no syslog.
 *
 * netns hosting: the public ports are bound on the floating IP (and on the LB's own
 * address when `lb.bindHostAddresses`). Both LBs bind the VIP all the time, the backup
 * before it owns it: hosts/ sets `net.ipv4.ip_nonlocal_bind=1` in every LB namespace,
 * so the backup serves the moment keepalived moves the address to it.
 */
import path from 'node:path';
import { type ServicePaths, servicePaths } from '../config/paths.ts';
import type { Plan, PlanService } from '../config/types.ts';
import { NGINX_STATUS_PATH, READINESS_PATH } from './nginx.ts';

export { READINESS_PATH };
import { header, serviceOn } from './service.ts';

/** Port of the stats page and the Prometheus `/metrics` endpoint on every LB host. */
export const HAPROXY_METRICS_PORT = 8405;

/** Name of the backend over the web servers (the runtime API addresses servers as `web/<host>`). */
export const HAPROXY_BACKEND = 'web';

/** The request header by which a client makes a request safe to replay (README: retries). */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/**
 * Paths that are never the site's: HAProxy answers 404 for them (and anything under
 * them) on the public ports, whatever would serve them behind it. Matched after
 * URL-decoding and lower-casing.
 */
export const INTERNAL_PATHS = [
  '/metrics',
  '/readyz',
  '/healthz',
  '/livez',
  NGINX_STATUS_PATH,
  '/stats',
  '/server-status',
];

/**
 * Request headers larger than this (all of them, in bytes) get a 431 from HAProxy. The
 * old 16 KiB buffer let about this much through, so nothing that passed before is refused.
 */
const MAX_REQUEST_HEADERS = 16384;

/**
 * Buffer size: room for request headers up to about 79 KiB (a 64 KiB header included)
 * to be read whole and answered 431 by the rule above. Past the buffer, HAProxy 2.6
 * answers HTTP/1.1 with its own 400 page, and refuses an HTTP/2 stream (REFUSED_STREAM).
 * Buffers are taken per active stream, not per idle connection; HAProxy runs with
 * `-dMglobal` (engines/haproxy.ts) so that buffers this large cost no page faults.
 */
const BUFSIZE = 81920;

/**
 * Security headers on every response of the public frontend, also those HAProxy makes
 * itself (404, 431, redirects): `http-after-response`. The site is plain HTML forms and
 * JSON, with a stylesheet, a script and an icon of its own, from its own origin
 * (/assets/, which nginx serves): nothing inline, no frames.
 */
export const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'strict-origin-when-cross-origin'],
  [
    'Content-Security-Policy',
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  ],
];

/**
 * One thread: the LB shares a 2-core machine with nginx, the apps, MariaDB and the
 * benchmark client, so a second thread only adds lock contention.
 */
const NBTHREAD = 1;

/**
 * Old workers left by a reload (and a soft-stop) finish their sessions within this
 * bound; matches `timeout server`, so no request that could still succeed is cut.
 */
const HARD_STOP_AFTER = '30s';

/**
 * Mozilla's "intermediate" profile (TLS 1.2 and 1.3; ECDHE with AES-GCM and
 * CHACHA20-POLY1305, so no DH parameters are needed).
 */
const TLS_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
const TLS_CIPHERSUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'].join(':');
const TLS_CURVES = 'X25519:prime256v1:secp384r1';

/** HSTS for two years, as Mozilla recommends; sent on HTTPS responses only. */
export const HSTS = 'max-age=63072000; includeSubDomains';

/** Addresses the public ports are bound on: the VIP and/or the LB's own address. */
export function haproxyPublicAddresses(plan: Plan, lbHostName: string): string[] {
  const { host } = serviceOn(plan, lbHostName, 'haproxy');
  const { vip, bindHostAddresses } = plan.lb;
  return [...(vip ? [vip] : []), ...(bindHostAddresses || !vip ? [host.address] : [])];
}

/** The HAProxy service on `hostName`; throws when that host is not a load balancer. */
export function haproxyServiceFor(plan: Plan, hostName: string): PlanService {
  return serviceOn(plan, hostName, 'haproxy').service;
}

/**
 * `lb.rateLimit`: each client address's request rate over the window, in a stick
 * table; past the limit HAProxy answers 429 itself and the request never reaches a server.
 */
function rateLimitLines(limit: Plan['lb']['rateLimit']): string[] {
  if (!limit) return [];
  const window = `${limit.perSeconds}s`;
  return [
    `    stick-table type ip size 100k expire ${window} store http_req_rate(${window})`,
    '    http-request track-sc0 src',
    `    http-request deny deny_status 429 hdr Retry-After ${limit.perSeconds} if { sc_http_req_rate(0) gt ${limit.requests} }`,
  ];
}

/**
 * HAProxy's `option httplog` line with the request id (`unique-id-format`, also sent on
 * as X-Request-Id) first: nginx's access log and the app's log carry the same id.
 */
const HTTP_LOG_FORMAT =
  '%ID %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r';

/** Full `haproxy.cfg` for the load balancer `lbHostName`. */
/**
 * The ACL file of the maintenance switch, changed through the runtime API only: `writes`
 * turns the site read-only, `all` answers every request 503 at the LB.
 */
export function readOnlyAclFile(paths: Pick<ServicePaths, 'dir'>): string {
  return path.join(paths.dir, 'read-only.acl');
}

export const READ_ONLY_MESSAGE = 'The site is read-only for maintenance: try again shortly';
/** With `all` in the same file: every request is answered 503 at the LB (no request reaches a server). */
export const DOWN_MESSAGE = 'The site is down for maintenance: try again shortly';

export function renderHaproxy(plan: Plan, lbHostName: string): string {
  const { host, service } = serviceOn(plan, lbHostName, 'haproxy');
  const paths = servicePaths(service);
  const { lb, tls } = plan;
  const addresses = haproxyPublicAddresses(plan, lbHostName);
  const hasBackups = lb.backends.some((b) => b.backup);

  const servers = lb.backends.map((b) => `    server ${b.name} ${b.address}:${b.port}${b.backup ? ' backup' : ''}`);

  const lines = [
    header('#', `HAProxy for ${host.name} (${host.address}) of stack ${plan.name}`),
    'global',
    // Every request, to stdout, each line after its ISO time: the supervisor captures
    // it in output.log (and rotates it). There is no syslog on these hosts.
    '    log stdout format iso local0 info',
    `    stats socket ${paths.socket} mode 600 level admin expose-fd listeners`,
    '    stats timeout 30s',
    `    maxconn ${lb.maxconn}`,
    `    nbthread ${NBTHREAD}`,
    `    hard-stop-after ${HARD_STOP_AFTER}`,
    `    tune.bufsize ${BUFSIZE}`,
    ...(tls.enabled
      ? [
          `    ssl-default-bind-ciphers ${TLS_CIPHERS}`,
          `    ssl-default-bind-ciphersuites ${TLS_CIPHERSUITES}`,
          `    ssl-default-bind-curves ${TLS_CURVES}`,
          // No session tickets: resumption keys are never rotated by a restart-free LB.
          '    ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets',
        ]
      : []),
    '',
    'defaults',
    '    mode http',
    '    log global',
    '    option forwardfor',
    '    option redispatch 1',
    '    retries 3',
    // Only what cannot have reached the app (a refused or failed connection) or left it
    // without an answer (an empty response, e.g. a killed app): a 500/503/504 is the
    // app's answer, and replaying it would multiply a database outage by `retries`.
    '    retry-on conn-failure empty-response',
    '    timeout connect 500ms',
    '    timeout client 30s',
    '    timeout server 30s',
    '    timeout http-request 5s',
    '    timeout http-keep-alive 10s',
    '    timeout queue 5s',
    '    timeout check 1s',
    '',
    'frontend www',
    ...addresses.map((a) => `    bind ${a}:${lb.port}`),
    ...(tls.enabled
      ? addresses.map((a) => `    bind ${a}:${lb.httpsPort} ssl crt ${tls.pem} alpn h2,http/1.1 ssl-min-ver TLSv1.2`)
      : []),
    `    log-format "${HTTP_LOG_FORMAT}"`,
    '    unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid',
    '    http-request set-header X-Request-Id %[unique-id]',
    // The public surface is the site: no health, metrics or status page through here.
    `    http-request return status 431 content-type "text/plain; charset=utf-8" string "Request header fields too large" if { req.hdrs,length gt ${MAX_REQUEST_HEADERS} }`,
    ...rateLimitLines(lb.rateLimit),
    `    http-request return status 404 content-type "text/plain; charset=utf-8" string "Not Found" if { path,url_dec,lower -m beg ${INTERNAL_PATHS.join(' ')} }`,
    // Read-only maintenance (`tandem restore`): the runtime API adds `writes` to this
    // ACL file, and every write is answered 503 at once while reads go on.
    `    http-request return status 503 content-type "text/plain; charset=utf-8" string "${DOWN_MESSAGE}" hdr retry-after 5 if { str(all) -m str -f ${readOnlyAclFile(paths)} }`,
    `    http-request return status 503 content-type "text/plain; charset=utf-8" string "${READ_ONLY_MESSAGE}" hdr retry-after 5 if { method POST PUT PATCH DELETE } { str(writes) -m str -f ${readOnlyAclFile(paths)} }`,
    ...SECURITY_HEADERS.map(([name, value]) => `    http-after-response set-header ${name} "${value}"`),
    // No banner (nginx's says only "nginx"; none at all is better).
    '    http-after-response del-header Server',
    ...(tls.enabled
      ? [
          // Plain HTTP only ever answers a permanent redirect that keeps the method.
          '    http-request redirect scheme https code 308 unless { ssl_fc }',
          // Overwrite whatever a client claims.
          '    http-request set-header X-Forwarded-Proto https',
          `    http-after-response set-header Strict-Transport-Security "${HSTS}" if { ssl_fc }`,
        ]
      : [
          // Plain HTTP; overwrite whatever a client claims.
          '    http-request set-header X-Forwarded-Proto http',
        ]),
    '    http-response set-header X-Request-Id %[unique-id]',
    `    default_backend ${HAPROXY_BACKEND}`,
    '',
    `backend ${HAPROXY_BACKEND}`,
    `    balance ${lb.balance}`,
    // With several backups, all of them share the load once the active server is down.
    ...(hasBackups ? ['    option allbackups'] : []),
    // Connections to the web servers leave from this host's address (on loopback they
    // would leave from 127.0.0.1), so nginx's set_real_ip_from matches the LB.
    `    source ${host.address}`,
    // Every backend is tandem's own nginx with keep-alive; `always` shares idle
    // connections across clients. nginx's idle timeout (75 s) is far above HAProxy's
    // idle-pool purge, so a reused connection is not closed under us.
    '    http-reuse always',
    '    option httpchk',
    ...healthChecks(plan),
    // An empty response may follow a request the app did run: replay only GET and HEAD,
    // and a request whose client made it safe to repeat with an Idempotency-Key (a POST
    // /posts names its post id). A connection failure is retried for every method.
    `    http-request disable-l7-retry unless METH_GET || { req.hdr(${IDEMPOTENCY_HEADER}) -m found }`,
    '    default-server check inter 300ms fastinter 200ms fall 2 rise 3 observe layer7 error-limit 10 on-error mark-down on-marked-down shutdown-sessions',
    ...servers,
    '',
    'frontend stats',
    `    bind ${host.address}:${HAPROXY_METRICS_PORT}`,
    '    no log',
    '    http-request use-service prometheus-exporter if { path /metrics }',
    '    stats enable',
    '    stats uri /stats',
    '    stats refresh 5s',
    '',
  ];
  return lines.join('\n');
}

/**
 * How the LB checks a web server: nginx answers its status page, then (when every web
 * host runs the app it proxies to, the usual layout) the local app is ready. nginx
 * passes that check to the app's private listener in the slot it runs in now
 * (render/nginx.ts), so this config stays the same when `tandem deploy` moves the app
 * to its other slot. In a three-tier layout each nginx balances over every app and
 * routes around a dead one itself, so the check asks nginx only.
 */
function healthChecks(plan: Plan): string[] {
  const host = `ver HTTP/1.1 hdr Host ${plan.domain}`;
  return [
    '    http-check connect',
    `    http-check send meth GET uri ${NGINX_STATUS_PATH} ${host}`,
    '    http-check expect status 200',
    ...(colocatedApps(plan)
      ? [
          '    http-check connect',
          `    http-check send meth GET uri ${READINESS_PATH} ${host}`,
          '    http-check expect status 200',
        ]
      : []),
  ];
}

/** Every web server the LBs balance over runs the app it proxies to (the usual layout). */
export function colocatedApps(plan: Plan): boolean {
  return plan.lb.backends.every((b) =>
    (plan.web.upstreams[b.name] ?? []).some((u) => !u.backup && u.address === b.address),
  );
}
