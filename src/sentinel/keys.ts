/**
 * The sentinels' keys in etcd, under `<prefix>db/`, and the JSON each holds.
 *
 * - `leader` (leased by the primary's sentinel): who may accept writes, in which term.
 * - `sync` (not leased, written by the primary's sentinel): the replica known to hold
 *   every acknowledged write, or null — the only replica that may be promoted.
 * - `members/<host>` (leased by each sentinel): what its database reports.
 * - `history/<term>`: each promotion.
 * - `switchover`: a planned hand-over asked for by a person.
 * - `reseed/<host>` (leased by that host's sentinel): a diverged database asks the named
 *   donor for a backup, streamed to the address and port it listens on.
 */
import type { KeyValue } from '../etcd/client.ts';

export interface LeaderValue {
  readonly host: string;
  readonly term: number;
}

export interface SyncValue {
  /** The last primary: it holds every acknowledged write of its term. */
  readonly primary: string;
  readonly term: number;
  /** The replica that acknowledges commits (semi-sync), or null when commits go unacknowledged. */
  readonly eligible: string | null;
}

export type MemberRole = 'primary' | 'replica' | 'diverged' | 'fenced' | 'down' | 'starting';

export interface MemberValue {
  readonly host: string;
  readonly role: MemberRole;
  readonly readOnly: boolean;
  readonly gtidBinlogPos: string;
  /** The last GTID per (domain, server): what a prefix check compares against. */
  readonly gtidBinlogState: string;
  readonly gtidSlavePos: string;
  /** The received position (`Gtid_IO_Pos`), when replicating. */
  readonly gtidIoPos: string;
  readonly masterHost: string;
  readonly ioRunning: boolean;
  readonly sqlRunning: boolean;
  /**
   * The SQL thread is stopped by the backup source (decide.ts pausedForBackup): the replica
   * still receives and acknowledges, and a promotion applies its relay log. Absent from a
   * key written by an older sentinel.
   */
  readonly pausedForBackup?: boolean;
  /** `Seconds_Behind_Master`; null when not replicating. */
  readonly lagS: number | null;
  readonly at: number;
}

export interface HistoryValue {
  readonly term: number;
  readonly from: string | null;
  readonly to: string;
  readonly reason: string;
  readonly at: number;
}

export interface SwitchoverValue {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly at: number;
  /** Set by the primary's sentinel when it refuses the request. */
  readonly refused?: string;
}

/** A diverged database's request for a backup (see reseed.ts). */
export interface ReseedRequest {
  readonly id: string;
  /** The diverged host, which listens for the stream. */
  readonly host: string;
  /** The donor: the host whose sentinel takes the backup and sends it. */
  readonly from: string;
  readonly address: string;
  readonly port: number;
  /**
   * Sent first on the stream: the listener takes nothing from a connection that does not
   * start with it. Only the sentinels read it (etcd asks for client certificates).
   */
  readonly token: string;
  readonly at: number;
}

export function dbKeys(prefix: string) {
  const root = `${prefix}db/`;
  return {
    root,
    leader: `${root}leader`,
    sync: `${root}sync`,
    members: `${root}members/`,
    member: (host: string) => `${root}members/${host}`,
    history: `${root}history/`,
    historyOf: (term: number) => `${root}history/${String(term).padStart(10, '0')}`,
    switchover: `${root}switchover`,
    reseeds: `${root}reseed/`,
    reseedOf: (host: string) => `${root}reseed/${host}`,
  };
}

export type DbKeys = ReturnType<typeof dbKeys>;

/** The JSON a key holds; null when absent or not JSON (a key nobody should have written). */
export function parseValue<T>(kv: KeyValue | null | undefined): T | null {
  if (!kv) return null;
  try {
    return JSON.parse(kv.value) as T;
  } catch {
    return null;
  }
}
