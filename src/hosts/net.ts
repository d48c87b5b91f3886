/** Small network probes used by orchestration: is a port open, is it free. */
import net from 'node:net';

/** Resolves true once something accepts a TCP connection at address:port. */
export function probeTcp(address: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Resolves undefined when address:port can be bound now, else the error code (EADDRINUSE…). */
export function bindError(address: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ host: address, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** Sends one HTTP/1.1 GET and resolves the status and body (no keep-alive). */
export async function httpGet(
  url: string,
  opts: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, { headers: opts.headers, signal: AbortSignal.timeout(opts.timeoutMs ?? 2000) });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** Writes one command to a unix socket (HAProxy's runtime API) and returns the whole answer. */
export function unixRequest(socketPath: string, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let data = '';
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`no answer from ${socketPath} within ${timeoutMs} ms`));
    });
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString();
    });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}
