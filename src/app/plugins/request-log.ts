/**
 * One structured log line per request, at `info`, when the response has gone: method,
 * URL, status, time taken and the client's address. Fastify labels each line with the
 * request id (`reqId`), taken from the X-Request-Id header HAProxy sets (build.ts), so
 * one request is followed across the LB's, nginx's and the app's logs (`tandem logs`).
 * Fastify's own request logging (two lines per request) stays off.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

async function requestLogPlugin(app: FastifyInstance): Promise<void> {
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 100) / 100,
        ip: request.ip,
      },
      'request',
    );
  });
}

export default fp(requestLogPlugin, { name: 'tandem-request-log' });
