/**
 * Replica health as the client acts on it: reads round-robin over the healthy replicas;
 * a failed replica is ejected and probed back with exponential back-off.
 */
import { ReplicaHealth } from './backoff.ts';
import type { DbEvent } from './types.ts';

export interface Replica<S> {
  readonly server: S;
  readonly health: ReplicaHealth;
  probe: NodeJS.Timeout | undefined;
}

/**
 * Round-robin: the first item from `start` (wrapping) that is `eligible`, and where the
 * next search starts (just after it). Undefined when none is eligible.
 */
export function roundRobin<T>(
  items: readonly T[],
  start: number,
  eligible: (item: T) => boolean,
): { item: T; next: number } | undefined {
  for (let i = 0; i < items.length; i++) {
    const index = (start + i) % items.length;
    const item = items[index];
    if (item !== undefined && eligible(item)) return { item, next: (index + 1) % items.length };
  }
  return undefined;
}

export interface ReplicaSetOptions<S> {
  minBackoffMs: number;
  maxBackoffMs: number;
  /** One probe of an ejected replica; resolving means it answers again. */
  probe: (server: S) => Promise<unknown>;
  emit: (event: DbEvent) => void;
}

export class ReplicaSet<S extends { readonly name: string }> {
  readonly replicas: readonly Replica<S>[];
  private next = 0;
  private closed = false;

  constructor(
    servers: readonly S[],
    private readonly options: ReplicaSetOptions<S>,
  ) {
    this.replicas = servers.map((server) => ({
      server,
      health: new ReplicaHealth(options.minBackoffMs, options.maxBackoffMs),
      probe: undefined,
    }));
  }

  /** The next healthy replica not in `tried`, round-robin. */
  pick(tried: ReadonlySet<Replica<S>>): Replica<S> | undefined {
    const found = roundRobin(this.replicas, this.next, (r) => r.health.healthy && !tried.has(r));
    if (!found) return undefined;
    this.next = found.next;
    return found.item;
  }

  /** Takes a replica out of the rotation and schedules its first probe. */
  eject(replica: Replica<S>, err: unknown): void {
    // Concurrent reads may all fail on the same outage: count it once.
    if (!replica.health.healthy || this.closed) return;
    const message = err instanceof Error ? err.message : String(err);
    const delay = replica.health.fail(Date.now(), message);
    this.options.emit({ kind: 'replica-ejected', server: replica.server.name, error: message, retryInMs: delay });
    this.scheduleProbe(replica, delay);
  }

  /** The replica answered (a health ping): back in the rotation if it was out. */
  confirm(replica: Replica<S>): void {
    if (!replica.health.succeed()) return;
    clearTimeout(replica.probe);
    this.options.emit({ kind: 'replica-restored', server: replica.server.name });
  }

  close(): void {
    this.closed = true;
    for (const replica of this.replicas) clearTimeout(replica.probe);
  }

  private scheduleProbe(replica: Replica<S>, delay: number): void {
    clearTimeout(replica.probe);
    replica.probe = setTimeout(() => void this.probe(replica), delay);
    replica.probe.unref();
  }

  private async probe(replica: Replica<S>): Promise<void> {
    replica.probe = undefined;
    if (this.closed) return;
    try {
      await this.options.probe(replica.server);
      if (replica.health.succeed()) this.options.emit({ kind: 'replica-restored', server: replica.server.name });
    } catch (err) {
      if (this.closed) return;
      const message = err instanceof Error ? err.message : String(err);
      this.scheduleProbe(replica, replica.health.fail(Date.now(), message));
    }
  }
}
