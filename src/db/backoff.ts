/**
 * Health of one replica: healthy, or ejected until a re-try time that backs off
 * exponentially (0.5 s, 1 s, 2 s ... 10 s). Pure; the clock is passed in.
 */
export class ReplicaHealth {
  private failures = 0;
  private retryAt = 0;
  lastError: string | undefined;

  constructor(
    private readonly minBackoffMs: number,
    private readonly maxBackoffMs: number,
  ) {}

  get healthy(): boolean {
    return this.failures === 0;
  }

  /** Marks a failure; returns the delay before the next re-try. */
  fail(now: number, error: string): number {
    const delay = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** this.failures);
    this.failures += 1;
    this.retryAt = now + delay;
    this.lastError = error;
    return delay;
  }

  /** Marks a success; returns true when this ends an ejection. */
  succeed(): boolean {
    const wasEjected = this.failures > 0;
    this.failures = 0;
    this.retryAt = 0;
    this.lastError = undefined;
    return wasEjected;
  }

  /** True when ejected and the back-off has elapsed. */
  dueForRetry(now: number): boolean {
    return this.failures > 0 && now >= this.retryAt;
  }

  msUntilRetry(now: number): number {
    return Math.max(0, this.retryAt - now);
  }
}
