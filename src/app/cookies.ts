/**
 * Minimal cookie handling (no dependency): parse, serialise, and HMAC-signed values, so
 * that any app server holding the shared secret can verify a cookie another one set.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'sid';
/** Read-your-writes token: the GTID of the user's last write. */
export const GTID_COOKIE = 'gtid';

export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

export interface CookieOptions {
  maxAgeSeconds?: number;
  secure?: boolean;
}

export function serializeCookie(name: string, value: string, options: CookieOptions = {}): string {
  let cookie = `${name}=${value}; Path=/; HttpOnly; SameSite=Lax`;
  if (options.maxAgeSeconds !== undefined) cookie += `; Max-Age=${options.maxAgeSeconds}`;
  if (options.secure) cookie += '; Secure';
  return cookie;
}

export class CookieSigner {
  constructor(private readonly secret: string) {}

  private mac(name: string, value: string): string {
    return createHmac('sha256', this.secret).update(`${name}=${value}`).digest('base64url');
  }

  /** `value.mac`; the value must not contain `.`, `;` or spaces. */
  sign(name: string, value: string): string {
    return `${value}.${this.mac(name, value)}`;
  }

  /** The value when the signature matches, else undefined. */
  unsign(name: string, signed: string | undefined): string | undefined {
    if (!signed) return undefined;
    const dot = signed.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const value = signed.slice(0, dot);
    const given = Buffer.from(signed.slice(dot + 1));
    const expected = Buffer.from(this.mac(name, value));
    return given.length === expected.length && timingSafeEqual(given, expected) ? value : undefined;
  }
}
