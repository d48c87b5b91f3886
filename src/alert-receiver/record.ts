/**
 * The receiver's record of notifications: one JSON line per alert in each notification
 * Alertmanager sent, newest last, in a file that never holds more than `maxRecords`
 * lines (past that, it is rewritten with the newest half, atomically by rename).
 * `tandem alerts` reads it (orchestrate/alerts.ts) to say when each alert was last notified.
 */
import fs from 'node:fs';

/** One alert as a notification carried it. */
export interface NotificationRecord {
  /** When the receiver got the notification (ISO 8601). */
  readonly receivedAt: string;
  /** The alert's own status in that notification. */
  readonly status: 'firing' | 'resolved';
  readonly alertname: string;
  /** The host label, when the alert has one (a VIP alert is about the pair). */
  readonly host?: string;
  readonly severity?: string;
  readonly summary?: string;
  /** When the alert began firing, and when it resolved (Alertmanager's times). */
  readonly startsAt: string;
  readonly endsAt: string;
  /** Alertmanager's id of the alert (its labels' hash). */
  readonly fingerprint: string;
  readonly labels: Readonly<Record<string, string>>;
}

export class NotificationLog {
  private lines: number;

  constructor(
    readonly file: string,
    readonly maxRecords: number,
  ) {
    this.lines = readRecords(file).length;
  }

  append(records: readonly NotificationRecord[]): void {
    if (records.length === 0) return;
    fs.appendFileSync(this.file, records.map((r) => `${JSON.stringify(r)}\n`).join(''), { mode: 0o644 });
    this.lines += records.length;
    if (this.lines <= this.maxRecords) return;
    const keep = readRecords(this.file).slice(-Math.ceil(this.maxRecords / 2));
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, keep.map((r) => `${JSON.stringify(r)}\n`).join(''));
    fs.renameSync(tmp, this.file);
    this.lines = keep.length;
  }
}

/** The records in `file`, oldest first; a missing file or a torn last line reads as none. */
export function readRecords(file: string): NotificationRecord[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const records: NotificationRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      records.push(JSON.parse(line) as NotificationRecord);
    } catch {}
  }
  return records;
}
