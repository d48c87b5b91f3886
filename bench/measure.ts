/**
 * What the bench parts measure with: wrk's figures, medians, and the CPU and memory of a
 * stack's processes read from /proc.
 */
import fs from 'node:fs';
import path from 'node:path';
import { servicePaths } from '../src/config/paths.ts';
import type { ServiceKind } from '../src/config/types.ts';
import { processTree } from '../src/hosts/proc.ts';
import { readSupervisor } from '../src/hosts/supervise.ts';
import { exec } from '../test/support/netns.ts';

export interface WrkResult {
  rps: number;
  /** Requests completed over the whole run. */
  requests: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

function toMs(text: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

/** wrk -t2, optionally inside a namespace (the client, or an app host); bounded by `seconds`. */
export async function wrk(
  url: string,
  host: string,
  opts: { seconds: number; connections: number; namespace?: string },
): Promise<WrkResult> {
  const argv = ['wrk', '-t2', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', '-H', `Host: ${host}`, url];
  const r = await exec(
    opts.namespace ? ['ip', 'netns', 'exec', opts.namespace, ...argv] : argv,
    (opts.seconds + 30) * 1000,
  );
  if (r.code !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const out = r.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return {
    rps,
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN),
    p50ms: toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
    p99ms: toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
    errors,
  };
}

export const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const CLOCK_TICKS = 100; // USER_HZ: /proc/PID/stat counts utime and stime in 1/100 s on Linux

/** utime + stime (seconds) of one process, all its threads included; 0 once it is gone. */
export function cpuOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat(5); the slice starts at field 3.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Resident memory of one process in bytes (VmRSS); 0 once it is gone. */
export function rssOf(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

export interface StackService {
  readonly host: string;
  readonly kind: ServiceKind;
}

/** The engine's PIDs of a service (the process its supervisor runs and its children); none when it is down. */
export function servicePids(stackDir: string, s: StackService): number[] {
  const dir = path.join(stackDir, '.tandem/hosts', s.host, s.kind);
  const pid = readSupervisor(servicePaths({ dir, kind: s.kind }))?.pid;
  return pid ? processTree(pid) : [];
}

/** CPU seconds of every process of these services (master, workers, their threads). */
export function serviceCpu(stackDir: string, services: readonly StackService[]): () => number {
  return () => services.reduce((sum, s) => sum + servicePids(stackDir, s).reduce((a, p) => a + cpuOf(p), 0), 0);
}
