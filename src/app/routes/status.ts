/** Endpoints for load balancers and people: whoami, liveness, readiness. */
import type { FastifyInstance } from 'fastify';

/** HAProxy checks every second or faster from two LBs: answer from a short cache. */
const READY_CACHE_MS = 250;

export default async function statusRoutes(app: FastifyInstance, options: { host: string }): Promise<void> {
  const started = Date.now();

  app.get('/whoami', async () => ({ server: options.host, pid: process.pid, uptime: (Date.now() - started) / 1000 }));

  app.get('/healthz', async () => ({ ok: true }));

  let cached: { at: number; ready: boolean; detail: unknown } | undefined;
  let inFlight: Promise<{ at: number; ready: boolean; detail: unknown }> | undefined;
  const check = async (): Promise<{ at: number; ready: boolean; detail: unknown }> => {
    const health = await app.db.health();
    const ready = health.primary.ok || health.replicas.some((r) => r.healthy);
    return {
      at: Date.now(),
      ready,
      detail: {
        primary: health.primary.ok,
        replicas: health.replicas.map((r) => ({ server: r.server, healthy: r.healthy })),
      },
    };
  };

  app.get('/readyz', async (_request, reply) => {
    if (!cached || Date.now() - cached.at > READY_CACHE_MS) {
      inFlight ??= check().finally(() => {
        inFlight = undefined;
      });
      cached = await inFlight;
    }
    reply.code(cached.ready ? 200 : 503);
    return { ready: cached.ready, db: cached.detail };
  });
}
