/**
 * The sentinels' keys in etcd, under `<prefix>db/`, and the JSON each holds.
 *
 * - `leader` (leased by the primary's sentinel): who may accept writes, in which term.
 * - `sync` (not leased, written by the primary's sentinel): the replica known to hold
 *   every acknowledged write, or null — the only replica that may be promoted.
 * - `members/<host>` (leased by each sentinel): what its database reports.
 * - `history/<term>`: each promotion.
 * - `switchover`: a planned hand-over asked for by a person.
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
