/** Sign-up, sign-in, sign-out and the current user; sessions live in the database. */
import type { FastifyInstance } from 'fastify';
import { DbQueryError } from '../../db/index.ts';
import { HttpError } from '../errors.ts';
import { backToPage, isFormPost } from '../html.ts';
import { hashPassword, verifyPassword } from '../passwords.ts';
import { credentialsSchema } from '../schemas.ts';
import { newSessionId, SESSION_TTL_SECONDS, type Sessions, sessionKey } from '../session.ts';
import { SigninThrottle, type SigninLimits } from '../throttle.ts';

interface Credentials {
  username: string;
  password: string;
}

const INSERT_SESSION = 'INSERT INTO sessions (id_hash, user_id, expires_at) VALUES (?, ?, NOW(3) + INTERVAL ? SECOND)';
const CURRENT_USER =
  'SELECT u.id, u.username FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires_at > NOW(3)';
/** Compared against when the user does not exist, so timing does not reveal which names exist. */
const DUMMY_HASH = await hashPassword('not-a-real-password');

export default async function authRoutes(
  app: FastifyInstance,
  options: { sessions: Sessions; signinLimits?: SigninLimits },
): Promise<void> {
  const { sessions } = options;
  const throttle = new SigninThrottle(app.db, options.signinLimits);

  app.post<{ Body: Credentials }>('/signup', { schema: credentialsSchema }, async (request, reply) => {
    const { username, password } = request.body;
    const hash = await hashPassword(password);
    const sessionId = newSessionId();
    let gtid: string | null;
    try {
      ({ gtid } = await app.db.transaction(async (tx) => {
        const user = await tx.write('INSERT INTO users (username, password_hash) VALUES (?, ?)', [username, hash]);
        await tx.write(INSERT_SESSION, [sessionKey(sessionId), user.insertId, SESSION_TTL_SECONDS]);
      }));
    } catch (err) {
      if (err instanceof DbQueryError && err.sqlCode === 'ER_DUP_ENTRY') {
        throw new HttpError(409, 'USERNAME_TAKEN', `username ${username} is taken`);
      }
      throw err;
    }
    sessions.setSession(reply, sessionId, request);
    sessions.setGtid(reply, gtid, request);
    if (isFormPost(request.headers['content-type'])) return backToPage(reply);
    return reply.code(201).send({ username });
  });

  app.post<{ Body: Credentials }>('/signin', { schema: credentialsSchema }, async (request, reply) => {
    const { username, password } = request.body;
    // request.ip is the real client: nginx and the LBs are trusted proxies (build.ts).
    await throttle.begin(username, request.ip);
    // The primary: a sign-up a moment ago on another server must already count.
    const { rows } = await app.db.read<{ id: number; password_hash: string }>(
      'SELECT id, password_hash FROM users WHERE username = ?',
      [username],
      { primary: true },
    );
    const user = rows[0];
    const ok = await verifyPassword(password, user?.password_hash ?? DUMMY_HASH);
    if (!user || !ok) throw new HttpError(401, 'INVALID_CREDENTIALS', 'wrong username or password');
    await throttle.succeeded(username, request.ip);
    const sessionId = newSessionId();
    const { gtid } = await app.db.write(INSERT_SESSION, [sessionKey(sessionId), user.id, SESSION_TTL_SECONDS]);
    sessions.setSession(reply, sessionId, request);
    sessions.setGtid(reply, gtid, request);
    if (isFormPost(request.headers['content-type'])) return backToPage(reply);
    return { username };
  });

  app.post('/signout', async (request, reply) => {
    const { sessionId } = sessions.read(request);
    if (sessionId !== undefined) {
      const { gtid } = await app.db.write('DELETE FROM sessions WHERE id_hash = ?', [sessionKey(sessionId)]);
      sessions.setGtid(reply, gtid, request);
    }
    sessions.clearSession(reply, request);
    if (isFormPost(request.headers['content-type'])) return backToPage(reply);
    return { ok: true };
  });

  app.get('/me', async (request) => {
    const { sessionId, minGtid } = sessions.read(request);
    if (sessionId === undefined) throw new HttpError(401, 'NOT_SIGNED_IN', 'not signed in');
    const key = sessionKey(sessionId);
    let { rows } = await app.db.read<{ id: number; username: string }>(
      CURRENT_USER,
      [key],
      minGtid !== undefined ? { minGtid } : {},
    );
    // A validly signed id the replica does not know yet (token cookie expired or lost): ask
    // the primary before saying no. Forging one needs the secret, so this is not a lever.
    if (rows.length === 0)
      ({ rows } = await app.db.read<{ id: number; username: string }>(CURRENT_USER, [key], { primary: true }));
    const user = rows[0];
    if (!user) throw new HttpError(401, 'NOT_SIGNED_IN', 'session expired or signed out');
    return { id: user.id, username: user.username };
  });
}
