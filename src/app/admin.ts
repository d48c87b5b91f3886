/**
 * The app's private listener: liveness, readiness and metrics, on a port of its own
 * (`app.adminPort`) that the firewall opens only to the hosts that need it (the load
 * balancers' checks). The public listener serves none of these.
 */
import Fastify, { type FastifyInstance, LogController } from 'fastify';

/** HAProxy checks every second or faster from two LBs: answer from a short cache. */
const READY_CACHE_MS = 250;

interface Readiness {
  at: number;
  ready: boolean;
  detail: unknown;
}

/**
 * A Fastify instance (not listening) over the public `app`'s database client and metrics
 * registry; readying it readies `app`. Close it beside `app`.
 */
export function buildAdmin(app: FastifyInstance): FastifyInstance {
  const admin = Fastify({
    logger: { level: 'error' },
    logController: new LogController({ disableRequestLogging: true }),
  });
  admin.addHook('onReady', async () => {
    await app.ready();
  });

  admin.get('/healthz', async () => ({ ok: true }));

  let cached: Readiness | undefined;
  let inFlight: Promise<Readiness> | undefined;
  const check = async (): Promise<Readiness> => {
    const health = await app.db.health();
    // Ready while reads can be served: a writable primary, or a healthy replica. During a
    // failover (no writable primary yet, `primaryState`) every app sees the same databases,
    // so answering 503 would take all of them out of the LBs and stop the reads too;
    // writes wait in the client (failoverWaitMs) instead.
    const ready = health.primary.ok || health.replicas.some((r) => r.healthy);
    return {
      at: Date.now(),
      ready,
      detail: {
        primary: health.primary.ok,
        primaryServer: health.primary.server,
        primaryState: health.primaryState,
        replicas: health.replicas.map((r) => ({ server: r.server, healthy: r.healthy })),
      },
    };
  };
  const refresh = (): Promise<Readiness> =>
    (inFlight ??= check()
      .then((r) => (cached = r))
      .finally(() => {
        inFlight = undefined;
      }));
  admin.get('/readyz', async (_request, reply) => {
    // The first answer waits for a check; later ones answer at once from the last check
    // and start the next one behind. A check can take the health timeouts (a database host
    // that vanished answers nothing): waiting for it would fail the LBs' 1 s check
    // deadline on every app at once.
    if (!cached) await refresh();
    else if (Date.now() - cached.at > READY_CACHE_MS) void refresh().catch(() => {});
    const last = cached!;
    reply.code(last.ready ? 200 : 503);
    return { ready: last.ready, db: last.detail, checkedMsAgo: Date.now() - last.at };
  });

  admin.get('/metrics', async (_request, reply) => {
    reply.header('content-type', app.metrics.contentType);
    return app.metrics.metrics();
  });
  return admin;
}
