/**
 * The app's log destination: lines gathered in memory and written to a file descriptor
 * (stdout, which the supervisor points at the service's output.log) in one write when
 * `maxBytes` have gathered or `flushMs` has passed, and at exit. One write per request
 * would cost a system call each; a line waits at most `flushMs`. A killed process
 * (SIGKILL) loses at most that much.
 */
import fs from 'node:fs';

export interface LogStream {
  write(line: string): void;
  flush(): void;
}

export function bufferedLogStream(fd: number, options: { maxBytes?: number; flushMs?: number } = {}): LogStream {
  const maxBytes = options.maxBytes ?? 16_384;
  const flushMs = options.flushMs ?? 500;
  let pending: string[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    size = 0;
    try {
      fs.writeSync(fd, text);
    } catch {
      // A full disk or a closed descriptor must not take the app down with it.
    }
  };
  process.on('exit', flush);
  return {
    write(line: string): void {
      pending.push(line);
      size += line.length;
      if (size >= maxBytes) flush();
      else if (!timer) timer = setTimeout(flush, flushMs).unref();
    },
    flush,
  };
}
