/**
 * Prometheus metrics: prom-client's default process metrics plus a request counter and
 * a latency histogram by route and status. One registry per app instance, so two apps in
 * one process (tests) do not collide. The registry is a decoration (`app.metrics`); the
 * private listener (admin.ts) serves it, never the public one.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

async function metricsPlugin(app: FastifyInstance, options: { host: string }): Promise<void> {
  const register = new Registry();
  register.setDefaultLabels({ server: options.host });
  collectDefaultMetrics({ register });
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [register],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [register],
  });

  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the raw URL: bounded label values.
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });

  app.decorate('metrics', register);
}

export default fp(metricsPlugin, { name: 'tandem-metrics' });
