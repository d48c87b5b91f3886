/** The timeline: the home page (read path) and posts (write path, idempotent by id). */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../errors.ts';
import type { AssetManifest } from '../assets.ts';
import { backToPage, isFormPost, type PostView, renderHome } from '../html.ts';
import { createPostSchema, listPostsSchema, POST_ID_PATTERN, postJson, postParamsSchema } from '../schemas.ts';
import { type Sessions, sessionKey } from '../session.ts';

type PostRow = PostView;

const LATEST = 'SELECT uid, body, server, created_at FROM posts ORDER BY seq DESC LIMIT ?';
const ONE = 'SELECT uid, body, server, created_at FROM posts WHERE uid = ?';
// IGNORE skips a duplicate uid: affectedRows 1 = inserted, 0 = already there. (ON DUPLICATE
// KEY UPDATE would report 1 either way: mysql2 sets CLIENT_FOUND_ROWS.) Inputs are
// validated first, so IGNORE's other effect, truncating bad data with a warning, cannot bite.
const INSERT = 'INSERT IGNORE INTO posts (uid, body, author_id, server) VALUES (?, ?, ?, ?)';
// The binlog position covers the original insert, so it serves as the retry's GTID token.
const EXISTING = 'SELECT body, @@global.gtid_binlog_pos AS pos FROM posts WHERE uid = ?';
const SESSION_USER = 'SELECT user_id FROM sessions WHERE id_hash = ? AND expires_at > NOW(3)';

/** The header that names a POST's post id, so that the proxies may replay it (README: retries). */
export const IDEMPOTENCY_KEY = 'idempotency-key';
const KEY = new RegExp(POST_ID_PATTERN);

/**
 * The post's id: the `Idempotency-Key` header when present (it must equal the body's
 * `id` when the body names one too), else the body's `id`, else a fresh one.
 */
function postId(key: string | string[] | undefined, bodyId: string | undefined): string {
  if (key === undefined) return bodyId ?? randomUUID();
  if (typeof key !== 'string' || !KEY.test(key)) {
    throw new HttpError(400, 'BAD_IDEMPOTENCY_KEY', `Idempotency-Key must be one post id (${POST_ID_PATTERN})`);
  }
  if (bodyId !== undefined && bodyId !== key) {
    throw new HttpError(400, 'BAD_IDEMPOTENCY_KEY', `Idempotency-Key ${key} is not the body's id ${bodyId}`);
  }
  return key;
}

function toJson(row: PostRow): { id: string; body: string; server: string; createdAt: string } {
  const createdAt = row.created_at instanceof Date ? row.created_at.toISOString() : String(row.created_at);
  return { id: row.uid, body: row.body, server: row.server, createdAt };
}

export default async function postRoutes(
  app: FastifyInstance,
  options: { host: string; sessions: Sessions; assets: AssetManifest },
): Promise<void> {
  const { host, sessions, assets } = options;

  app.get('/', async (request, reply) => {
    const { minGtid } = sessions.read(request);
    const { rows } = await app.db.read<PostRow>(LATEST, [20], minGtid !== undefined ? { minGtid } : {});
    reply.header('content-type', 'text/html; charset=utf-8');
    reply.header('cache-control', 'no-store');
    return renderHome(rows, host, randomUUID(), assets);
  });

  app.get<{ Querystring: { limit: number } }>(
    '/api/posts',
    {
      schema: {
        ...listPostsSchema,
        response: { 200: { type: 'object', properties: { posts: { type: 'array', items: postJson } } } },
      },
    },
    async (request) => {
      const { minGtid } = sessions.read(request);
      const { rows } = await app.db.read<PostRow>(
        LATEST,
        [request.query.limit],
        minGtid !== undefined ? { minGtid } : {},
      );
      return { posts: rows.map(toJson) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/posts/:id',
    { schema: { ...postParamsSchema, response: { 200: postJson } } },
    async (request) => {
      const { minGtid } = sessions.read(request);
      const { rows } = await app.db.read<PostRow>(ONE, [request.params.id], minGtid !== undefined ? { minGtid } : {});
      const row = rows[0];
      if (!row) throw new HttpError(404, 'NOT_FOUND', `no post ${request.params.id}`);
      return toJson(row);
    },
  );

  app.post<{ Body: { id?: string; body: string } }>('/posts', { schema: createPostSchema }, async (request, reply) => {
    const { sessionId } = sessions.read(request);
    const id = postId(request.headers[IDEMPOTENCY_KEY], request.body.id);
    let authorId: number | null = null;
    if (sessionId !== undefined) {
      const { rows } = await app.db.read<{ user_id: number }>(SESSION_USER, [sessionKey(sessionId)], { primary: true });
      authorId = rows[0]?.user_id ?? null;
    }
    const { result, gtid } = await app.db.write(INSERT, [id, request.body.body, authorId, host]);
    const created = result.affectedRows === 1;
    let token = gtid;
    if (!created) {
      // A retry (or a reused id): the same post is the same answer; another post is a conflict.
      const { rows } = await app.db.read<{ body: string; pos: string }>(EXISTING, [id], { primary: true });
      if (rows[0] && rows[0].body !== request.body.body) {
        throw new HttpError(409, 'ID_CONFLICT', `post id ${id} is already used by a different post`);
      }
      token = rows[0]?.pos ?? null;
    }
    sessions.setGtid(reply, token, request);
    if (isFormPost(request.headers['content-type'])) {
      return backToPage(reply);
    }
    return reply.code(201).send({ id, server: host, created });
  });
}
