/**
 * Test and bench support for netns stacks: run commands inside a namespace, a bounded
 * load from the client namespace (DNS + HTTPS, as a user), outage windows.
 */
export { exec } from './exec.ts';
import path from 'node:path';
import { exec } from './exec.ts';
import type { Outcome } from './load.ts';
import { REPO } from './stack.ts';

export const inNs = (ns: string, argv: string[], timeoutMs?: number) =>
  exec(['ip', 'netns', 'exec', ns, ...argv], timeoutMs);

export interface ClientLoadOptions {
  readonly clientNs: string;
  readonly caFile: string;
  readonly url: string;
  readonly host: string;
  readonly paths: readonly string[];
  readonly durationMs: number;
  readonly concurrency?: number;
  readonly timeoutMs?: number;
}

/** A bounded load from inside the client namespace; every request's outcome. */
export async function clientLoad(o: ClientLoadOptions): Promise<Outcome[]> {
  const opts = {
    url: o.url,
    host: o.host,
    paths: o.paths,
    concurrency: o.concurrency ?? 4,
    durationMs: o.durationMs,
    maxRequests: 100_000,
    timeoutMs: o.timeoutMs ?? 500,
  };
  const r = await exec(
    [
      'ip',
      'netns',
      'exec',
      o.clientNs,
      'env',
      `NODE_EXTRA_CA_CERTS=${o.caFile}`,
      process.execPath,
      '--import',
      'tsx',
      path.join(REPO, 'test/support/load-cli.ts'),
      JSON.stringify(opts),
    ],
    o.durationMs + 30_000,
  );
  if (r.code !== 0) throw new Error(`client load failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Outcome[];
}

export interface Outage {
  /** Requests that failed. */
  readonly failed: number;
  /** First failed request's start → end of the first success that started after the last failure. */
  readonly windowMs: number;
  /** Requests that started inside the window, and the share of them that failed. */
  readonly inWindow: number;
  readonly failedShare: number;
}

export function outage(outcomes: readonly Outcome[]): Outage {
  const sorted = [...outcomes].sort((a, b) => a.start - b.start);
  const bad = sorted.filter((o) => o.status !== 200);
  if (bad.length === 0) return { failed: 0, windowMs: 0, inWindow: 0, failedShare: 0 };
  const from = bad[0]!.start;
  const lastBad = bad[bad.length - 1]!;
  const recovered = sorted.find((o) => o.status === 200 && o.start >= lastBad.start);
  const to = recovered?.end ?? lastBad.end;
  const inWindow = sorted.filter((o) => o.start >= from && o.start <= to).length;
  return { failed: bad.length, windowMs: to - from, inWindow, failedShare: bad.length / Math.max(1, inWindow) };
}

/**
 * A TCP SYN scan (nmap) of `ports` on `targets` from inside `ns`: every port found
 * `open` or `closed` as `address:port/state`, sorted (`closed` means a packet got through
 * the firewall to a port nobody listens on), and how many targets nmap reported on.
 * The firewalls drop what they refuse, so nmap hears nothing back from most ports and its
 * pace is set by `--min-rate`; each unanswered port is probed twice (`--max-retries 1`),
 * so one lost probe cannot hide an open port. Measured: netns.test.ts's 24.6k ports took
 * 15–23 s as a connect scan with no retry, 2.7 s so; monitor-up.test.ts's 60k 29 s, 6.7 s.
 */
export async function scanFrom(
  ns: string,
  ports: string,
  targets: readonly string[],
): Promise<{ code: number; stderr: string; stdout: string; reported: number; reachable: string[] }> {
  const r = await inNs(
    ns,
    [
      'nmap',
      '-Pn',
      '-sS',
      '-n',
      '-T5',
      '--max-retries',
      '1',
      '--min-rate',
      '20000',
      '-p',
      ports,
      '-oG',
      '-',
      ...targets,
    ],
    300_000,
  );
  const lines = [...r.stdout.matchAll(/Host: (\S+) .*Ports: (.*)/g)];
  const reachable = lines.flatMap(([, host, found]) =>
    found!
      .split(/, |\t/)
      .filter((p) => /\/(open|closed)\//.test(p))
      .map((p) => `${host}:${p.split('/')[0]}/${p.split('/')[1]}`),
  );
  return { ...r, reported: lines.length, reachable: reachable.sort() };
}
