/** GTID helpers: reading `last_gtid` from an OK packet and checking a position's shape. */

/** A MariaDB GTID position: `domain-server-seq`, several comma-separated (one per domain). */
const GTID_POSITION = /^\d{1,10}-\d{1,10}-\d{1,20}(,\d{1,10}-\d{1,10}-\d{1,20})*$/;

export function isGtidPosition(value: string): boolean {
  return value.length <= 512 && GTID_POSITION.test(value);
}

interface OkPacketWithState {
  stateChanges?: { systemVariables?: Record<string, string> };
}

/**
 * The `last_gtid` the server reported in the OK packet. MariaDB sends it when
 * `session_track_system_variables` includes `last_gtid`, and only when it changed — a
 * statement that wrote nothing to the binlog reports nothing. mysql2 parses session
 * state into `ResultSetHeader.stateChanges.systemVariables` (not in its typings).
 */
export function trackedLastGtid(header: unknown): string | null {
  const value = (header as OkPacketWithState | null)?.stateChanges?.systemVariables?.last_gtid;
  return value !== undefined && value !== '' ? value : null;
}

/** A GTID position as sequence numbers by replication domain (the server id does not order GTIDs). */
export function parseGtidPosition(text: string): Map<number, bigint> {
  const byDomain = new Map<number, bigint>();
  // Servers may break a long multi-domain position into lines.
  const value = text.replace(/\s+/g, '');
  if (value === '') return byDomain;
  if (!isGtidPosition(value)) throw new TypeError(`not a GTID position: ${JSON.stringify(value.slice(0, 80))}`);
  for (const gtid of value.split(',')) {
    const [domain, , seq] = gtid.split('-');
    byDomain.set(Number(domain), BigInt(seq!));
  }
  return byDomain;
}

/** True when position `have` contains everything in `want`: every domain of `want` at an equal or later sequence. */
export function gtidReached(have: ReadonlyMap<number, bigint>, want: ReadonlyMap<number, bigint>): boolean {
  for (const [domain, seq] of want) {
    const reached = have.get(domain);
    if (reached === undefined || reached < seq) return false;
  }
  return true;
}
