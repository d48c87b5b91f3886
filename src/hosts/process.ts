/**
 * Running commands and explaining their failures (like zx's Fail.formatExitMessage):
 * the command, its exit code or signal, the stderr lines that matter, and a hint.
 */
import { execFile } from 'node:child_process';
import { TandemError } from '../errors.ts';

export class ProcessError extends TandemError {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stderr: string,
    hint?: string,
  ) {
    super('TANDEM_PROCESS_FAILED', formatExitMessage(argv, exitCode, signal, stderr), hint);
    this.name = 'ProcessError';
  }
}

/** Arguments or output lines that may carry a secret value: never shown. */
const SECRETISH = /identified by|password\s*[=:(]|secret\s*[=:]/i;

/** Never show a secret: SQL or arguments that carry one are shortened. */
function showArgv(argv: readonly string[]): string {
  return argv
    .map((a) => (SECRETISH.test(a) ? '<sql with a secret, not shown>' : /\s/.test(a) ? `'${a}'` : a))
    .join(' ');
}

export function formatExitMessage(
  argv: readonly string[],
  exitCode: number | null,
  signal: string | null,
  stderr: string,
): string {
  const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !SECRETISH.test(l));
  const important = lines.filter((l) => /error|fail|fatal|alert|emerg|cannot|unknown|denied|invalid/i.test(l));
  const shown = (important.length > 0 ? important : lines).slice(-8);
  return `\`${showArgv(argv)}\` ${how}${shown.length ? `:\n    ${shown.join('\n    ')}` : ''}`;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Written to the command's standard input. */
  input?: string;
}

/** Runs argv to completion; rejects with a ProcessError that explains the failure. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      {
        cwd: opts.cwd,
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: unknown; signal?: string | null };
        if (e.code === 'ENOENT') {
          return reject(
            new TandemError(
              'TANDEM_MISSING_ENGINE',
              `${argv[0]} is not installed`,
              'run `tandem doctor` to see how to install it',
            ),
          );
        }
        reject(
          new ProcessError(argv, typeof e.code === 'number' ? e.code : null, e.signal ?? null, `${stderr}\n${stdout}`),
        );
      },
    );
    if (opts.input !== undefined) {
      // A command that exits before reading its input (e.g. cannot connect) closes the
      // pipe: its exit status tells what happened, not the EPIPE.
      child.stdin?.on('error', () => {});
      child.stdin?.end(opts.input);
    }
  });
}
