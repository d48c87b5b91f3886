/**
 * Running a short-lived Node worker inside a host's network namespace and streaming
 * what it prints. Node cannot switch namespaces in-process, so a client that must
 * stand where a user stands (the `client` namespace: DNS, the VIP, HTTPS) is its own
 * process: `ip netns exec <ns> node --import tsx <script>`. Bounded: killed when
 * `timeoutMs` passes, whatever it is doing.
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import type { PlanHost } from '../config/types.ts';
import { nodeCommand } from '../prebuilt.mjs';
import { inNamespace } from './netns.ts';

export interface WorkerOptions {
  /** Where it runs (no namespace: here). */
  readonly host: Pick<PlanHost, 'namespace'>;
  /** Absolute path of the worker's TypeScript entry. */
  readonly script: string;
  readonly args: readonly string[];
  /** Added to this process's environment (e.g. NODE_EXTRA_CA_CERTS). */
  readonly env?: Readonly<Record<string, string>>;
  /** Hard bound: SIGKILL after this long. */
  readonly timeoutMs: number;
  /** Each line of standard output, as it arrives. */
  readonly onLine: (line: string) => void;
  /** Asks the worker to stop early (SIGTERM; it should flush and exit). */
  readonly signal?: AbortSignal;
}

export interface WorkerExit {
  readonly code: number | null;
  readonly signal: string | null;
  /** The last few KiB of standard error, for explaining a failure. */
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** argv of a worker (pure): `ip netns exec` execs, so the PID is node's own. */
export function workerCommand(host: Pick<PlanHost, 'namespace'>, script: string, args: readonly string[]): string[] {
  return inNamespace(host, nodeCommand(script, args));
}

export function runWorker(opts: WorkerOptions): Promise<WorkerExit> {
  const argv = workerCommand(opts.host, opts.script, opts.args);
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let timedOut = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      stderr = (stderr + c).slice(-8192);
    });
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', opts.onLine);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    const stop = () => child.kill('SIGTERM');
    opts.signal?.addEventListener('abort', stop, { once: true });
    let exit: { code: number | null; signal: string | null } | undefined;
    let closed = false;
    const done = () => {
      if (!exit || !closed) return;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', stop);
      resolve({ ...exit, stderr, timedOut });
    };
    child.on('error', (err) => {
      stderr += `\n${err.message}`;
      exit = { code: null, signal: null };
      closed = true;
      done();
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      done();
    });
    // Every line read before resolving.
    lines.on('close', () => {
      closed = true;
      done();
    });
  });
}
