/**
 * What the binlog archiver reports: its state file (for `tandem status`) and its
 * Prometheus metrics (the ArchiveStopped / ArchiveBehind / ArchiveHole rules read them).
 */

export interface ArchiverState {
  /** The database host it streams from; null while it has none. */
  readonly following: string | null;
  /** mariadb-binlog is running. */
  readonly streaming: boolean;
  /** The host found writable at the last probe; null when none (or two). */
  readonly primary: string | null;
  /** The archive's position: highest sequence per domain (`0-0-57`). */
  readonly archivedGtid: string;
  /** The last archived transaction as the server named it (`0-2-57`). */
  readonly lastGtid: string | null;
  /** The primary's `gtid_binlog_pos` at the last probe. */
  readonly primaryGtid: string | null;
  /** Transactions the primary has that the archive lacks. */
  readonly behindTransactions: number | null;
  /** Seconds since the archive last held everything the primary had: the recovery point at risk. */
  readonly lagSeconds: number | null;
  readonly holes: number;
  /** Transactions of an old primary the new one does not have (never acknowledged; a replay skips them). */
  readonly divergences: number;
  /** The file being appended to, in plaintext, and since when it is (ms). */
  readonly liveFile: { readonly file: string; readonly bytes: number; readonly sinceMs: number } | null;
  /** Files in the archive, and how many of them are encrypted. */
  readonly files: number;
  readonly encryptedFiles: number;
  readonly lastError: string | null;
  readonly updatedAt: number;
}

const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function metric(name: string, help: string, samples: readonly string[]): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...samples];
}

/** The metric the ArchiveBehind rule reads. */
export const ARCHIVE_LAG_METRIC = 'tandem_archive_lag_seconds';

/** `/metrics` of the archiver. */
export function renderArchiverMetrics(state: ArchiverState, nowMs: number): string {
  const lines = [
    ...metric('tandem_archive_streaming', "Whether mariadb-binlog is streaming the primary's binlog.", [
      `tandem_archive_streaming ${state.streaming ? 1 : 0}`,
    ]),
    ...metric(
      'tandem_archive_following',
      'The database host whose binlog is archived (1); absent while none is.',
      state.following ? [`tandem_archive_following{primary="${label(state.following)}"} 1`] : [],
    ),
    ...metric(
      ARCHIVE_LAG_METRIC,
      'Seconds since the archive last held every transaction of the primary: the recovery point at risk.',
      state.lagSeconds === null ? [] : [`${ARCHIVE_LAG_METRIC} ${state.lagSeconds}`],
    ),
    ...metric(
      'tandem_archive_behind_transactions',
      'Transactions the primary has that the archive lacks.',
      state.behindTransactions === null ? [] : [`tandem_archive_behind_transactions ${state.behindTransactions}`],
    ),
    ...metric('tandem_archive_holes', 'Gaps detected in the archive’s GTID sequence.', [
      `tandem_archive_holes ${state.holes}`,
    ]),
    ...metric(
      'tandem_archive_plaintext_age_seconds',
      'Age of the live (unencrypted) binlog file being appended to.',
      state.liveFile ? [`tandem_archive_plaintext_age_seconds ${(nowMs - state.liveFile.sinceMs) / 1000}`] : [],
    ),
    ...metric('tandem_archive_state_age_seconds', "Seconds since the archiver's last tick.", [
      `tandem_archive_state_age_seconds ${(nowMs - state.updatedAt) / 1000}`,
    ]),
  ];
  return `${lines.join('\n')}\n`;
}
