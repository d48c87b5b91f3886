/** Small network probes used by orchestration: is a port open, is it free. */
import fs from 'node:fs';
import net from 'node:net';
import type { PlanHost } from '../config/types.ts';
import { probeInNamespace } from './netns.ts';
import { run } from './process.ts';

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

/** `/proc/net/tcp`'s form of an IPv4 address and port: little-endian hex, then the port. */
function procTcpAddress(address: string, port: number): string {
  const hex = address
    .split('.')
    .reverse()
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
  return `${hex}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** True when the `/proc/net/tcp` text lists a listening socket on address:port (or the wildcard). */
export function listensIn(procNetTcp: string, address: string, port: number): boolean {
  const wanted = new Set([procTcpAddress(address, port), procTcpAddress('0.0.0.0', port)]);
  return procNetTcp.split('\n').some((line) => {
    const [, local, , state] = line.trim().split(/\s+/);
    return state === '0A' && local !== undefined && wanted.has(local);
  });
}

/**
 * Whether something listens on address:port in the network namespace of `pid`, read from
 * /proc/<pid>/net/tcp without entering the namespace (no process spawned). Undefined when
 * it cannot be read.
 */
export function listeningBeside(pid: number, address: string, port: number): boolean | undefined {
  try {
    return listensIn(fs.readFileSync(`/proc/${pid}/net/tcp`, 'utf8'), address, port);
  } catch {
    return undefined;
  }
}

/** TCP listeners on `port` in the host's namespace: each local address and the PIDs holding it. */
export async function tcpListeners(
  host: Pick<PlanHost, 'namespace'>,
  port: number,
): Promise<{ address: string; pids: number[] }[]> {
  const { stdout } = await run(probeInNamespace(host, ['ss', '-Hltnp', `sport = :${port}`]), { timeoutMs: 3000 });
  return stdout
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const local = line.trim().split(/\s+/)[3] ?? '';
      return {
        address: local.slice(0, local.lastIndexOf(':')),
        pids: [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])),
      };
    });
}
