/**
 * Requests between tandem, the backup agent and the backup sources carry
 * `x-tandem-auth: <ms>.<hmac>`: an HMAC-SHA256 of the time, method and path under a
 * token derived from the stack's `backupKey` secret (never the key itself, never
 * logged). A request more than a minute old or ahead is refused, so a recorded one
 * cannot be replayed later.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export const AUTH_HEADER = 'x-tandem-auth';

/** The source's and the agent's readiness path: here, so that `up` checks it without loading either server. */
export const BACKUP_READY_PATH = '/-/ready';
const SKEW_MS = 60_000;

/** The token sources and the agent share: derived from `backupKey`, apart from its encryption key. */
export function backupToken(backupKey: string): string {
  if (!backupKey) throw new Error('the backup key is missing (backupKey in the stack secrets)');
  return Buffer.from(hkdfSync('sha256', backupKey, 'tandem-backup', 'request-auth', 32)).toString('hex');
}

function mac(token: string, at: number, method: string, url: string): string {
  return createHmac('sha256', token).update(`${at} ${method.toUpperCase()} ${url}`).digest('hex');
}

/** The header's value for a request made now. */
export function signRequest(token: string, method: string, url: string, now = Date.now()): string {
  return `${now}.${mac(token, now, method, url)}`;
}

/** Whether the header signs this request, made within a minute of `now`. */
export function verifyRequest(
  token: string,
  header: string | undefined,
  method: string,
  url: string,
  now = Date.now(),
): boolean {
  const m = /^(\d{1,15})\.([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const at = Number(m[1]);
  if (Math.abs(now - at) > SKEW_MS) return false;
  return timingSafeEqual(Buffer.from(m[2]!, 'hex'), Buffer.from(mac(token, at, method, url), 'hex'));
}
