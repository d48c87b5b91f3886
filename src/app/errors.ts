/** Every error becomes JSON `{ error, message }` with a fitting status; a plain HTML form's, a page that says it. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { DbError } from '../db/index.ts';
import type { AssetManifest } from './assets.ts';
import { isFormPost, renderFormError } from './html.ts';

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly error: string,
    message: string,
    /** Headers of the error response, e.g. `retry-after` on a 429. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

const DB_STATUS: Record<string, number> = {
  DB_UNAVAILABLE: 503,
  DB_TIMEOUT: 503,
  DB_READ_ONLY: 503,
  DB_TWO_WRITABLE: 503,
  DB_CLOSED: 503,
  DB_QUERY: 500,
};

export function installErrorHandler(app: FastifyInstance, assets: AssetManifest = {}): void {
  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    // A plain HTML form gets a page that says why (same status and headers), JSON clients JSON.
    const answer = (status: number, body: { error: string; message: string }) =>
      isFormPost(request.headers['content-type'])
        ? reply.code(status).type('text/html; charset=utf-8').send(renderFormError(body.message, assets))
        : reply.code(status).send(body);
    if (err instanceof HttpError) {
      reply.headers(err.headers);
      return answer(err.statusCode, { error: err.error, message: err.message });
    }
    if (err instanceof DbError) {
      const status = DB_STATUS[err.code] ?? 500;
      request.log.error({ err: { code: err.code, message: err.message } }, 'database error');
      if (status === 503) reply.header('retry-after', '1');
      // The SQL error text stays in the log; the client gets the stable code.
      return answer(status, {
        error: err.code,
        message: status === 503 ? 'database unavailable, try again' : 'database error',
      });
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      return answer(400, { error: 'VALIDATION', message: fe.message });
    }
    const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 ? fe.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err }, 'request failed');
      return answer(status, { error: 'INTERNAL', message: 'internal error' });
    }
    return answer(status, { error: fe.code ?? 'ERROR', message: fe.message });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}
