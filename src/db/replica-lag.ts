/**
 * Replica lag measured by GTID positions, not `Seconds_Behind_Master` (unreliable on
 * MariaDB 10.11): the client samples the primary's `@@gtid_binlog_pos` and remembers when
 * it first saw each position. A replica whose `@@gtid_slave_pos` lacks a position first
 * seen at `t` is missing a write the primary had committed by `t`: it is at least
 * `now - t` behind. No heartbeat writes, no privilege beyond reading variables. Pure.
 */
import { gtidReached, parseGtidPosition } from './gtid.ts';

interface Sample {
  readonly position: ReadonlyMap<number, bigint>;
  readonly firstSeen: number;
}

/** Bounds memory whatever the sampling rate. */
const MAX_SAMPLES = 1000;

export class PrimaryPositions {
  private samples: Sample[] = [];

  /** @param horizonMs how far back a lag must be measurable; at least the lag bound. */
  constructor(private readonly horizonMs: number) {}

  /** Records the primary's position as seen at `now`. */
  record(position: string, now: number): void {
    const parsed = parseGtidPosition(position);
    const newest = this.samples.at(-1);
    if (newest !== undefined) {
      const ahead = gtidReached(parsed, newest.position);
      if (ahead && gtidReached(newest.position, parsed)) return; // unchanged
      // The position went back or diverged (another server is primary now): start over.
      if (!ahead) this.samples = [];
    }
    this.samples.push({ position: parsed, firstSeen: now });
    this.prune(now);
  }

  /**
   * How far behind a replica at `replicaPosition` is, at least: `now` minus when the
   * primary was first seen at the oldest position the replica has not reached; 0 when it
   * has reached every recorded one.
   */
  lagMs(replicaPosition: string, now: number): number {
    const have = parseGtidPosition(replicaPosition);
    const missing = this.samples.find((s) => !gtidReached(have, s.position));
    return missing === undefined ? 0 : Math.max(0, now - missing.firstSeen);
  }

  get size(): number {
    return this.samples.length;
  }

  /**
   * Drops samples older than the horizon but keeps the newest of those: a replica that
   * lacks it is measured as at least that old, however long the primary was idle since.
   */
  private prune(now: number): void {
    let anchor = 0;
    for (let i = 0; i < this.samples.length; i++) if (this.samples[i]!.firstSeen <= now - this.horizonMs) anchor = i;
    anchor = Math.max(anchor, this.samples.length - MAX_SAMPLES);
    if (anchor > 0) this.samples = this.samples.slice(anchor);
  }
}
