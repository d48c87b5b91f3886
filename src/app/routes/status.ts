/** The public status endpoint: which server answered, and nothing about its process. */
import type { FastifyInstance } from 'fastify';

export default async function statusRoutes(
  app: FastifyInstance,
  options: { host: string; release?: string },
): Promise<void> {
  // The release only when the process runs one (`tandem deploy`).
  app.get('/whoami', async () => ({ server: options.host, ...(options.release ? { release: options.release } : {}) }));
}
