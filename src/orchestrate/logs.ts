/**
 * `tandem logs [HOST[/SERVICE]]`: every log file of the chosen services (log-files.ts),
 * rotated ones included, merged in time order; with `follow`, then every line they gain
 * until the signal aborts. A file rotated while followed is read to its end first
 * (it is kept open), then the new one from its start.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Plan, PlanService } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { LOG_ROTATION } from '../hosts/supervise.ts';
import { type LogEntry, mergeByTime, timedLines } from './log-lines.ts';
import { serviceLogFiles } from './log-files.ts';

export interface LogsOptions {
  /** `HOST` or `HOST/SERVICE`; undefined: every service. */
  readonly selector?: string;
  /** Only lines written at or after this time (epoch ms). */
  readonly since?: number;
  /** Keep printing new lines until `signal` aborts. */
  readonly follow?: boolean;
  readonly signal?: AbortSignal;
  /** How often followed files are checked for new lines. @default 250 */
  readonly pollMs?: number;
  /** Gets the lines in time order: the history first, then each batch that followed. */
  readonly write: (entries: readonly LogEntry[]) => void;
}

/** The services a selector names; a name that matches nothing is an error naming it. */
export function selectServices(plan: Plan, selector: string | undefined): PlanService[] {
  if (!selector) return [...plan.services];
  const [hostName, kind, extra] = selector.split('/');
  const hosts = plan.hosts.map((h) => h.name);
  if (!hostName || extra !== undefined || !hosts.includes(hostName)) {
    throw new TandemError(
      'TANDEM_USAGE',
      hostName && extra === undefined
        ? `logs: no host '${hostName}' in stack ${plan.name}`
        : `logs: '${selector}' is neither HOST nor HOST/SERVICE`,
      `name a host, or a host/service: ${hosts.join(', ')}`,
    );
  }
  const onHost = plan.services.filter((s) => s.host === hostName);
  if (kind === undefined) return onHost;
  const chosen = onHost.filter((s) => s.kind === kind);
  if (chosen.length === 0) {
    throw new TandemError(
      'TANDEM_USAGE',
      `logs: host ${hostName} runs no service '${kind}'`,
      `its services: ${onHost.map((s) => s.kind).join(', ')}`,
    );
  }
  return chosen;
}

/** A file's rotated copies, oldest first, then the file itself. */
function generations(file: string): string[] {
  const rotated: string[] = [];
  for (let i = 1; i <= Math.max(LOG_ROTATION.keep, 9); i++) {
    if (fs.existsSync(`${file}.${i}`)) rotated.unshift(`${file}.${i}`);
  }
  return [...rotated, file];
}

/** One followed file: read from an open descriptor so that a rename loses nothing. */
class Tail {
  private fd: number | undefined;
  private ino = 0;
  private offset = 0;
  private partial = '';

  constructor(readonly file: string) {
    this.open();
  }

  private open(): void {
    try {
      this.fd = fs.openSync(this.file, 'r');
    } catch {
      this.fd = undefined;
      return;
    }
    const stat = fs.fstatSync(this.fd);
    this.ino = stat.ino;
    this.offset = 0;
    this.partial = '';
  }

  /** Whole lines written since the last call. */
  read(): string[] {
    if (this.fd === undefined) {
      this.open();
      if (this.fd === undefined) return [];
    }
    const lines = this.drain();
    const now = fs.statSync(this.file, { throwIfNoEntry: false });
    if (!now || now.ino !== this.ino) {
      // Renamed away (rotated): what the old file held is read; go on with the new one.
      fs.closeSync(this.fd!);
      this.fd = undefined;
      if (now) {
        this.open();
        lines.push(...this.drain());
      }
    }
    return lines;
  }

  private drain(): string[] {
    const size = fs.fstatSync(this.fd!).size;
    // Truncated in place (copied and truncated): start again at its beginning.
    if (size < this.offset) {
      this.offset = 0;
      this.partial = '';
    }
    if (size === this.offset) return [];
    const buffer = Buffer.alloc(size - this.offset);
    const n = fs.readSync(this.fd!, buffer, 0, buffer.length, this.offset);
    this.offset += n;
    const text = this.partial + buffer.subarray(0, n).toString('utf8');
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    return lines;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * The lines every file of `services` holds now (rotated files included), in time order.
 * `current` reads a file that is still written (its followed tail, when following).
 */
function history(
  services: readonly PlanService[],
  since: number | undefined,
  current: (file: string) => string[],
): LogEntry[] {
  const now = new Date();
  const perFile: LogEntry[][] = [];
  for (const service of services) {
    for (const file of serviceLogFiles(service)) {
      for (const generation of generations(file)) {
        const stat = fs.statSync(generation, { throwIfNoEntry: false });
        if (!stat) continue;
        // Nothing in a rotated file last written before `since` can be wanted. The current
        // file is read whatever its age: a followed tail must pass over what it holds.
        if (generation !== file && since !== undefined && stat.mtimeMs < since) continue;
        const lines = generation === file ? current(file) : wholeLines(generation);
        perFile.push(timedLines(lines, { service: service.id, file: path.basename(file) }, stat.mtimeMs, now));
      }
    }
  }
  const merged = mergeByTime(perFile);
  return since === undefined ? merged : merged.filter((e) => e.time >= since);
}

function wholeLines(file: string): string[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Prints the chosen services' logs, then (with `follow`) their new lines until aborted. */
export async function showLogs(plan: Plan, options: LogsOptions): Promise<void> {
  const services = selectServices(plan, options.selector);
  if (!options.follow) {
    options.write(history(services, options.since, wholeLines));
    return;
  }
  // Opened before the history is read, and read for it: no line is lost or shown twice.
  const tails = services.flatMap((s) => serviceLogFiles(s).map((file) => ({ service: s.id, tail: new Tail(file) })));
  const byFile = new Map(tails.map(({ tail }) => [tail.file, tail]));
  const last = new Map<string, number>();
  try {
    options.write(history(services, options.since, (file) => byFile.get(file)?.read() ?? []));
    while (!options.signal?.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.pollMs ?? 250);
        options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      const batch = tails.map(({ service, tail }) => {
        const fallback = last.get(tail.file) ?? Date.now();
        const entries = timedLines(tail.read(), { service, file: path.basename(tail.file) }, fallback);
        if (entries.length > 0) last.set(tail.file, entries.at(-1)!.time);
        return entries;
      });
      const merged = mergeByTime(batch);
      if (merged.length > 0) options.write(merged);
    }
  } finally {
    for (const { tail } of tails) tail.close();
  }
}
