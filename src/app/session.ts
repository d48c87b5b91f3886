/**
 * Per-request state kept in signed cookies: the session id and the read-your-writes GTID
 * token. Sessions themselves live in the database, so any app server serves any request.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isGtidPosition } from '../db/index.ts';
import { CookieSigner, GTID_COOKIE, parseCookies, SESSION_COOKIE, serializeCookie } from './cookies.ts';

export const SESSION_TTL_SECONDS = 7 * 24 * 3600;
/** Long enough for any healthy replica to catch up; after that the token is useless. */
const GTID_TTL_SECONDS = 300;

export interface RequestCookies {
  /** The session id from a correctly signed cookie. */
  sessionId: string | undefined;
  /** The GTID token from a correctly signed cookie, to pass as `minGtid`. */
  minGtid: string | undefined;
}

export class Sessions {
  private readonly signer: CookieSigner;

  constructor(secret: string) {
    this.signer = new CookieSigner(secret);
  }

  read(request: FastifyRequest): RequestCookies {
    const header = request.headers.cookie;
    if (!header) return { sessionId: undefined, minGtid: undefined };
    const cookies = parseCookies(header);
    const sessionId = this.signer.unsign(SESSION_COOKIE, cookies.get(SESSION_COOKIE));
    const gtid = this.signer.unsign(GTID_COOKIE, cookies.get(GTID_COOKIE));
    return { sessionId, minGtid: gtid !== undefined && isGtidPosition(gtid) ? gtid : undefined };
  }

  /** Remembers the GTID of a write so the same user's next reads wait for it. */
  setGtid(reply: FastifyReply, gtid: string | null, request: FastifyRequest): void {
    if (gtid === null || !isGtidPosition(gtid)) return;
    this.append(
      reply,
      serializeCookie(GTID_COOKIE, this.signer.sign(GTID_COOKIE, gtid), {
        maxAgeSeconds: GTID_TTL_SECONDS,
        secure: isHttps(request),
      }),
    );
  }

  setSession(reply: FastifyReply, sessionId: string, request: FastifyRequest): void {
    this.append(
      reply,
      serializeCookie(SESSION_COOKIE, this.signer.sign(SESSION_COOKIE, sessionId), {
        maxAgeSeconds: SESSION_TTL_SECONDS,
        secure: isHttps(request),
      }),
    );
  }

  clearSession(reply: FastifyReply, request: FastifyRequest): void {
    this.append(reply, serializeCookie(SESSION_COOKIE, '', { maxAgeSeconds: 0, secure: isHttps(request) }));
  }

  private append(reply: FastifyReply, cookie: string): void {
    // Fastify appends set-cookie values rather than replacing them.
    reply.header('set-cookie', cookie);
  }
}

export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

/** What the database stores instead of the session id. */
export function sessionKey(sessionId: string): Buffer {
  return createHash('sha256').update(sessionId).digest();
}

/** TLS terminates at the load balancer, which says so in X-Forwarded-Proto. */
function isHttps(request: FastifyRequest): boolean {
  return request.headers['x-forwarded-proto'] === 'https';
}
