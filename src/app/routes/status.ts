/** The public status endpoint: which server answered, and nothing about its process. */
import type { FastifyInstance } from 'fastify';

export default async function statusRoutes(app: FastifyInstance, options: { host: string }): Promise<void> {
  app.get('/whoami', async () => ({ server: options.host }));
}
