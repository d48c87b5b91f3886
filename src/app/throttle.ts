/**
 * Sign-in throttling. Failures are counted in the database (table `signin_failures`,
 * migration 002), not in each app's memory: the load balancer spreads one client over
 * every app server, and each of them must see all of its failures.
 *
 * The rule, over a sliding window (one minute by default):
 * - one client address may fail `perAddressAndUser` times for one username; further
 *   attempts from that address for that username get 429 until the oldest failure leaves
 *   the window. The same username from another address is not affected.
 * - one client address may fail `perAddress` times in all, whatever the usernames
 *   (trying many accounts from one place).
 * - one username may fail `perUser` times in all, whatever the addresses (a guess spread
 *   over many addresses). Past that, only addresses that have already failed for this
 *   username are refused: each attacking address gets one guess per window, while the
 *   owner, from an address with no failure, still signs in.
 * A refused attempt checks no password and counts as no failure. A successful sign-in
 * clears that address's failures for that username.
 */
import type { Db } from '../db/index.ts';
import { HttpError } from './errors.ts';

export interface SigninLimits {
  /** Failures of one username from one client address. @default 10 */
  readonly perAddressAndUser: number;
  /** Failures from one client address, any usernames. @default 30 */
  readonly perAddress: number;
  /** Failures of one username, any addresses (see the rule above). @default 100 */
  readonly perUser: number;
  /** @default 60 */
  readonly windowSeconds: number;
}

export const SIGNIN_LIMITS: SigninLimits = { perAddressAndUser: 10, perAddress: 30, perUser: 100, windowSeconds: 60 };

/** Failures in the window before the attempt being judged; ages in ms (null: none). */
export interface FailureCounts {
  readonly pair: number;
  readonly address: number;
  readonly user: number;
  readonly pairOldestMs: number | null;
  readonly pairNewestMs: number | null;
  readonly addressOldestMs: number | null;
}

/** Seconds the client should wait before its next attempt, or undefined when it may go on. */
export function retryAfterSeconds(counts: FailureCounts, limits: SigninLimits): number | undefined {
  const windowMs = limits.windowSeconds * 1000;
  // When the failure of the given age leaves the window.
  const until = (ageMs: number | null) => Math.max(1, Math.ceil((windowMs - (ageMs ?? windowMs)) / 1000));
  const waits: number[] = [];
  if (counts.pair >= limits.perAddressAndUser) waits.push(until(counts.pairOldestMs));
  if (counts.address >= limits.perAddress) waits.push(until(counts.addressOldestMs));
  // Until this address's last failure for the username has left the window.
  if (counts.user >= limits.perUser && counts.pair > 0) waits.push(until(counts.pairNewestMs));
  return waits.length === 0 ? undefined : Math.max(...waits);
}

const COUNT_FAILURES = `SELECT
  COALESCE(SUM(username = ? AND address = ?), 0) AS pair,
  COALESCE(SUM(address = ?), 0) AS by_address,
  COALESCE(SUM(username = ?), 0) AS by_user,
  TIMESTAMPDIFF(MICROSECOND, MIN(IF(username = ? AND address = ?, failed_at, NULL)), NOW(3)) DIV 1000 AS pair_oldest_ms,
  TIMESTAMPDIFF(MICROSECOND, MAX(IF(username = ? AND address = ?, failed_at, NULL)), NOW(3)) DIV 1000 AS pair_newest_ms,
  TIMESTAMPDIFF(MICROSECOND, MIN(IF(address = ?, failed_at, NULL)), NOW(3)) DIV 1000 AS address_oldest_ms
FROM signin_failures
WHERE (username = ? OR address = ?) AND failed_at > NOW(3) - INTERVAL ? SECOND AND id < ?`;
const INSERT_FAILURE = 'INSERT INTO signin_failures (username, address) VALUES (?, ?)';
/** Expired rows go in small batches, on one attempt in `PURGE_EVERY`. */
const PURGE_EXPIRED = 'DELETE FROM signin_failures WHERE failed_at < NOW(3) - INTERVAL ? SECOND LIMIT 1000';
const PURGE_EVERY = 32;

interface CountRow {
  pair: string | number;
  by_address: string | number;
  by_user: string | number;
  pair_oldest_ms: string | number | null;
  pair_newest_ms: string | number | null;
  address_oldest_ms: string | number | null;
}

const orNull = (v: string | number | null) => (v === null ? null : Number(v));

export class SigninThrottle {
  constructor(
    private readonly db: Db,
    private readonly limits: SigninLimits = SIGNIN_LIMITS,
  ) {}

  /**
   * Refuses an attempt past the limits (429 with Retry-After); otherwise records it as a
   * failure, to be cleared by `succeeded`. Recorded before the password is checked, and
   * judged against the rows before its own, so concurrent attempts cannot all slip in.
   */
  async begin(username: string, address: string): Promise<void> {
    // Refused while over the limit without writing anything: an attack costs reads only.
    this.refuseIfOver(await this.counts(username, address, Number.MAX_SAFE_INTEGER));
    const { result } = await this.db.write(INSERT_FAILURE, [username, address]);
    const wait = retryAfterSeconds(await this.counts(username, address, result.insertId), this.limits);
    if (wait !== undefined) {
      await this.db.write('DELETE FROM signin_failures WHERE id = ?', [result.insertId]);
      throw tooMany(wait);
    }
    if (result.insertId % PURGE_EVERY === 0) await this.db.write(PURGE_EXPIRED, [this.limits.windowSeconds]);
  }

  /** The password was right: this address's failures for this username are forgotten. */
  async succeeded(username: string, address: string): Promise<void> {
    await this.db.write('DELETE FROM signin_failures WHERE username = ? AND address = ?', [username, address]);
  }

  private refuseIfOver(counts: FailureCounts): void {
    const wait = retryAfterSeconds(counts, this.limits);
    if (wait !== undefined) throw tooMany(wait);
  }

  private async counts(username: string, address: string, beforeId: number): Promise<FailureCounts> {
    const pair = [username, address];
    // The primary: a failure recorded a moment ago through the other app server must count.
    const { rows } = await this.db.read<CountRow>(
      COUNT_FAILURES,
      [...pair, address, username, ...pair, ...pair, address, username, address, this.limits.windowSeconds, beforeId],
      { primary: true },
    );
    const row = rows[0]!;
    return {
      pair: Number(row.pair),
      address: Number(row.by_address),
      user: Number(row.by_user),
      pairOldestMs: orNull(row.pair_oldest_ms),
      pairNewestMs: orNull(row.pair_newest_ms),
      addressOldestMs: orNull(row.address_oldest_ms),
    };
  }
}

function tooMany(seconds: number): HttpError {
  return new HttpError(429, 'TOO_MANY_FAILED_SIGNINS', `too many failed sign-ins; try again in ${seconds} s`, {
    'retry-after': String(seconds),
  });
}
