/**
 * Per-request state kept in signed cookies: the session id and the read-your-writes GTID
 * token. Sessions themselves live in the database, so any app server serves any request.
 * Parsing and HMAC signing are @fastify/cookie's (registered in build.ts with the shared
 * secret), so any app server verifies a cookie another one set.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isGtidPosition } from '../db/index.ts';

export const SESSION_COOKIE = 'sid';
/** Read-your-writes token: the GTID of the user's last write. */
export const GTID_COOKIE = 'gtid';

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
  read(request: FastifyRequest): RequestCookies {
    const sessionId = unsigned(request, SESSION_COOKIE);
    const gtid = unsigned(request, GTID_COOKIE);
    return { sessionId, minGtid: gtid !== undefined && isGtidPosition(gtid) ? gtid : undefined };
  }

  /** Remembers the GTID of a write so the same user's next reads wait for it. */
  setGtid(reply: FastifyReply, gtid: string | null, request: FastifyRequest): void {
    if (gtid === null || !isGtidPosition(gtid)) return;
    reply.setCookie(GTID_COOKIE, gtid, cookieOptions(request, GTID_TTL_SECONDS));
  }

  setSession(reply: FastifyReply, sessionId: string, request: FastifyRequest): void {
    reply.setCookie(SESSION_COOKIE, sessionId, cookieOptions(request, SESSION_TTL_SECONDS));
  }

  clearSession(reply: FastifyReply, request: FastifyRequest): void {
    reply.setCookie(SESSION_COOKIE, '', { ...cookieOptions(request, 0), signed: false });
  }
}

/** The value of a correctly signed cookie `name`, else undefined. */
function unsigned(request: FastifyRequest, name: string): string | undefined {
  const raw = request.cookies[name];
  if (raw === undefined || raw === '') return undefined;
  const result = request.unsignCookie(raw);
  return result.valid && result.value !== null ? result.value : undefined;
}

function cookieOptions(request: FastifyRequest, maxAge: number): CookieSerializeOptions {
  return { path: '/', httpOnly: true, sameSite: 'lax', maxAge, secure: isHttps(request), signed: true };
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
