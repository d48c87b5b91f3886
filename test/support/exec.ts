/** Runs a command to completion and resolves its exit code and output; never rejects. */
import { execFile } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function exec(argv: readonly string[], timeoutMs = 60_000, cwd?: string): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      { cwd, timeout: timeoutMs, maxBuffer: 32 << 20 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 99
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(); // e.g. openssl s_client would otherwise wait for input
  });
}
