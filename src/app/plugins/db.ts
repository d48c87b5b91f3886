/**
 * The database as a Fastify plugin: decorates the instance with `db` and closes it in
 * `onClose`. Wrapped with fastify-plugin (not encapsulated) so every route sees the
 * decoration.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createDb, type Db, type DbOptions } from '../../db/index.ts';

declare module 'fastify' {
  interface FastifyInstance {
    db: Db;
  }
}

export interface DbPluginOptions {
  /** A ready client (tests, embedding), or options to create one. */
  db: Db | DbOptions;
}

function isDb(value: Db | DbOptions): value is Db {
  return typeof (value as Db).read === 'function';
}

async function dbPlugin(app: FastifyInstance, options: DbPluginOptions): Promise<void> {
  const db = isDb(options.db) ? options.db : createDb(options.db);
  app.decorate('db', db);
  app.addHook('onClose', async () => {
    await db.close();
  });
}

export default fp(dbPlugin, { name: 'tandem-db' });
