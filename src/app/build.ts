/**
 * The foobar.com app as a factory: `buildApp(opts)` returns a Fastify instance without
 * listening (tests use `inject`; `server.ts` listens), and `buildAdmin(app)` (admin.ts)
 * its private listener for health and metrics. Stateless: sessions and posts live
 * in the database, cookies are signed with the shared secret.
 */
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { Db, DbOptions } from '../db/index.ts';
import type { AssetManifest } from './assets.ts';
import { installErrorHandler } from './errors.ts';
import dbPlugin from './plugins/db.ts';
import metricsPlugin from './plugins/metrics.ts';
import requestLogPlugin from './plugins/request-log.ts';
import authRoutes from './routes/auth.ts';
import postRoutes from './routes/posts.ts';
import statusRoutes from './routes/status.ts';
import { Sessions } from './session.ts';
import type { SigninLimits } from './throttle.ts';

export interface AppOptions {
  /** This server's name (TANDEM_HOST). */
  host: string;
  /** The release it runs (TANDEM_RELEASE): the `x-release` header and /whoami name it. */
  release?: string;
  /** HMAC key for cookies; the same on every app server. */
  sessionSecret: string;
  /** A ready client, or options to create one; closed with the app either way. */
  db: Db | DbOptions;
  /** Largest request body in bytes; larger is 413. @default 65536 */
  bodyLimit?: number;
  /**
   * Addresses of the proxies in front of the app (nginx, the load balancers): their
   * X-Forwarded-For is believed, so `request.ip` is the real client (sign-in throttling).
   * @default [] (request.ip is the connection's peer)
   */
  trustedProxies?: readonly string[];
  /** The static assets' manifest: the pages link `app.css`, `app.js` and `favicon.svg` through it. @default {} */
  assets?: AssetManifest;
  /** Sign-in throttling limits. @default SIGNIN_LIMITS (throttle.ts) */
  signinLimits?: SigninLimits;
  /**
   * Fastify logger; errors only by default. At `info` it writes one line per request
   * (plugins/request-log.ts), labelled with the request's X-Request-Id. @default { level: 'error' }
   */
  logger?: FastifyServerOptions['logger'];
}

/** nginx's upstream keepalive must time out before Node closes the idle socket (ENGINES.md). */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export function buildApp(options: AppOptions): FastifyInstance {
  const bodyLimit = options.bodyLimit ?? 65536;
  const app = Fastify({
    bodyLimit,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    logger: options.logger ?? { level: 'error' },
    logController: new LogController({ disableRequestLogging: true }),
    // HAProxy sets it on every request (render/haproxy.ts) and nginx passes it on: the
    // app's log lines carry the id the LB's and nginx's lines carry.
    requestIdHeader: 'x-request-id',
    // Fastify's default strips unknown fields silently; we reject them.
    ajv: { customOptions: { removeAdditional: false } },
    ...(options.trustedProxies?.length ? { trustProxy: [...options.trustedProxies] } : {}),
  });
  const sessions = new Sessions();

  installErrorHandler(app, options.assets ?? {});
  // Which server answered, on every response (chaos and tests record it).
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('x-served-by', options.host);
    // Which release answered (`tandem deploy`): the load recorder tells old from new by it.
    if (options.release) reply.header('x-release', options.release);
  });
  // Parses Cookie headers and signs/verifies values with the shared secret (HMAC-SHA256).
  app.register(cookie, { secret: options.sessionSecret });
  app.register(formbody, { bodyLimit });
  app.register(dbPlugin, { db: options.db });
  app.register(metricsPlugin, { host: options.host });
  app.register(requestLogPlugin);
  app.register(statusRoutes, { host: options.host, ...(options.release ? { release: options.release } : {}) });
  app.register(postRoutes, { host: options.host, sessions, assets: options.assets ?? {} });
  app.register(authRoutes, { sessions, ...(options.signinLimits ? { signinLimits: options.signinLimits } : {}) });
  return app;
}
