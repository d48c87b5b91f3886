/**
 * Pure helpers of `tandem logs`: when a log line was written (each engine stamps its
 * lines its own way), the merge of several files' lines in time order, `--since`, and
 * the two ways to print a line.
 */
import { TandemError } from '../errors.ts';

/** One line of one service's log, with the time it was written (epoch ms). */
export interface LogEntry {
  readonly time: number;
  /** `<host>/<service>`. */
  readonly service: string;
  /** The file's name in the service's folder (`output.log`, `access.log`, …). */
  readonly file: string;
  readonly text: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A JSON `time`/`ts` value: epoch seconds (nginx `$msec`), epoch ms (pino) or an ISO date (zap). */
function jsonTime(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value < 1e11 ? value * 1000 : value;
  if (typeof value === 'string') {
    const t = Date.parse(value);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

/** A local wall-clock time, as nginx's error log, MariaDB and syslog-style lines write it. */
function localTime(y: number, month: number, d: number, hh: string, mm: string, ss: string, frac = ''): number {
  const ms = frac ? Math.round(Number(`0.${frac}`) * 1000) : 0;
  return new Date(y, month, d, Number(hh), Number(mm), Number(ss), ms).getTime();
}

/**
 * The time a line was written, from its own stamp; undefined for a line without one
 * (a continuation, an engine's start-up banner). Understood: JSON with `time` or `ts`
 * (the app, nginx's access log, etcd), a leading ISO 8601 time (HAProxy, the
 * supervisor's own lines) or `ts=` (Prometheus' logfmt), nginx's error log
 * (`2026/11/24 17:04:25`), MariaDB (`2026-11-24 17:04:25`), syslog style
 * (`Nov 24 17:04:25`, dnsmasq) and ctime style (`Tue Nov 24 17:04:25 2026`).
 */
export function lineTime(text: string, now = new Date()): number | undefined {
  if (text.startsWith('{')) {
    try {
      const record = JSON.parse(text) as Record<string, unknown>;
      const t = jsonTime(record.time) ?? jsonTime(record.ts);
      if (t !== undefined) return t;
    } catch {}
  }
  const iso = /^(?:ts=)?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)/.exec(text);
  if (iso) {
    const t = Date.parse(iso[1]!);
    if (!Number.isNaN(t)) return t;
  }
  const numeric = /^(\d{4})[-/](\d\d)[-/](\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?/.exec(text);
  if (numeric) {
    const [, y, mo, d, hh, mm, ss, frac] = numeric;
    return localTime(Number(y), Number(mo) - 1, Number(d), hh!, mm!, ss!, frac);
  }
  const named = /^(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?: (\d{4}))?/.exec(text);
  if (named && MONTHS.includes(named[1]!)) {
    const [, mon, d, hh, mm, ss, y] = named;
    return localTime(y ? Number(y) : now.getFullYear(), MONTHS.indexOf(mon!), Number(d), hh!, mm!, ss!);
  }
  return undefined;
}

/**
 * One file's lines with their times. A line without a stamp of its own takes the
 * time of the line before it (the next one, at the start of the file); a file with no
 * stamp at all takes `fallback` (its modification time).
 */
export function timedLines(
  lines: readonly string[],
  where: { readonly service: string; readonly file: string },
  fallback: number,
  now = new Date(),
): LogEntry[] {
  const times = lines.map((l) => lineTime(l, now));
  let next = fallback;
  for (let i = times.length - 1; i >= 0; i--) next = times[i] ?? next;
  let last = next;
  return lines.map((text, i) => {
    last = times[i] ?? last;
    return { time: last, service: where.service, file: where.file, text };
  });
}

/** Several files' entries in time order; lines of one file keep their order (stable sort). */
export function mergeByTime(files: readonly (readonly LogEntry[])[]): LogEntry[] {
  return files.flat().sort((a, b) => a.time - b.time);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since`: a duration back from now (`90s`, `10m`, `2h`, `1d`) or a time (`2026-11-24T17:00:00Z`,
 * anything Date.parse reads). Returns epoch ms.
 */
export function parseSince(value: string, now: number): number {
  const duration = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  if (duration) return now - Number(duration[1]) * UNITS[duration[2]!]!;
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new TandemError(
      'TANDEM_USAGE',
      `--since ${value}: neither a duration nor a time`,
      'a duration back from now (30s, 10m, 2h, 1d) or a time (2026-11-24T17:00:00Z)',
    );
  }
  return t;
}

/** `<service>  <line>`, the service padded to `width`. */
export function formatEntry(entry: LogEntry, width: number): string {
  return `${entry.service.padEnd(width)}  ${entry.text}`;
}

/** One JSON object per line (`--json`). */
export function entryJson(entry: LogEntry): string {
  return JSON.stringify({
    time: new Date(entry.time).toISOString(),
    service: entry.service,
    file: entry.file,
    line: entry.text,
  });
}
