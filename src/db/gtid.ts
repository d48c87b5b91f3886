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
