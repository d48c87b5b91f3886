/**
 * A bounded mixed workload through the public entry, recording every operation:
 * page reads (`GET /`), API reads (`GET /api/posts?limit=5`), writes with a unique id
 * (`POST /posts`), and read-your-writes checks (a write, then `GET /posts/<id>` with
 * the cookie the write returned). Duration, concurrency, rate and operation count are
 * all bounded. An answer later than the scenario's latency bound is recorded as `slow`
 * (a failure for the user, though a slow write is acknowledged). Reads are never
 * retried: the history is what users saw. Writes carry their own id, so they may be
 * retried once with it (`retryWrites`), as an API client of an idempotent endpoint
 * would; the op then records `attempts: 2` and counts as failed all the same. Each write
 * names its id in an `Idempotency-Key` header too, so the proxies may replay it.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Op, OpKind, Outcome } from './history.ts';
import { writeBody } from './history.ts';

export interface LoadOptions {
  /**
   * The public entry, e.g. `http://127.60.0.11/`, or `https://www.foobar.com/` (netns:
   * resolved by the stack's DNS; HTTPS trusts the CA named by NODE_EXTRA_CA_CERTS).
   */
  readonly url: string;
  /** Host header (the stack's domain). */
  readonly host: string;
  readonly runId: string;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly maxOps: number;
  /** Upper bound on operations started per second, all workers together. */
  readonly ratePerSec: number;
  /** A request with no answer after this long is a timeout. */
  readonly timeoutMs: number;
  /** An answer later than this (ms) is recorded as `slow`: the user was stalled. */
  readonly latencyBoundMs: number;
  /** Operation mix, cycled through by every worker. `ryw` = a write then its read-back. */
  readonly mix?: readonly (OpKind | 'ryw')[];
  /**
   * Retry a write once, with the same id, when it got no answer or a 502/503/504: what
   * a well-behaved API client of an idempotent endpoint does. Reads are never retried.
   */
  readonly retryWrites: boolean;
  /** Stop early (e.g. the caller was interrupted). */
  readonly signal?: AbortSignal;
  /** Called with each operation as it completes (the worker streams them). */
  readonly onOp?: (op: Op) => void;
}

const DEFAULT_MIX: readonly (OpKind | 'ryw')[] = ['page', 'api', 'write', 'api', 'page', 'ryw'];

interface Answer {
  status: number;
  server?: string;
  release?: string;
  cookie?: string;
  body: string;
}

type Agent = http.Agent;

function send(
  agent: Agent,
  opts: LoadOptions,
  method: 'GET' | 'POST',
  path: string,
  extra: { body?: string; cookie?: string; idempotencyKey?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: opts.host };
    if (extra.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(extra.body));
    }
    if (extra.cookie) headers.cookie = extra.cookie;
    // The proxies may replay a keyed POST on another app: the app stores it once.
    if (extra.idempotencyKey) headers['idempotency-key'] = extra.idempotencyKey;
    const url = new URL(path, opts.url);
    const request = url.protocol === 'https:' ? https.request : http.request;
    const req = request(url, { agent, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 4096) body += c;
      });
      res.on('end', () => {
        const setCookie = res.headers['set-cookie'] ?? [];
        resolve({
          status: res.statusCode ?? 0,
          server: res.headers['x-served-by'] as string | undefined,
          release: res.headers['x-release'] as string | undefined,
          cookie: setCookie.map((c) => c.split(';')[0]).join('; ') || undefined,
          body,
        });
      });
      res.on('error', reject);
    });
    // A whole-request deadline, not an idle timeout: a paused server sends nothing.
    const timer = setTimeout(() => req.destroy(new TimeoutError()), opts.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(extra.body);
  });
}

class TimeoutError extends Error {
  constructor() {
    super('timeout');
  }
}

/** No answer, or the gateway's "could not get an answer": the write may be retried. */
function retryable(op: Op): boolean {
  if (op.outcome === 'error') return true;
  return op.outcome === 'fail' && (op.status === 502 || op.status === 503 || op.status === 504);
}

/** Runs one HTTP exchange and turns it into a recorded operation. */
async function operation(
  latencyBoundMs: number,
  kind: OpKind,
  id: string | undefined,
  exchange: () => Promise<Answer>,
  ok: (a: Answer) => boolean,
): Promise<{ op: Op; answer?: Answer }> {
  const start = Date.now();
  try {
    const answer = await exchange();
    const end = Date.now();
    const outcome: Outcome = !ok(answer) ? 'fail' : end - start > latencyBoundMs ? 'slow' : 'ok';
    const op: Op = {
      kind,
      ...(id ? { id } : {}),
      start,
      end,
      outcome,
      status: answer.status,
      ...(answer.server ? { server: answer.server } : {}),
      ...(answer.release ? { release: answer.release } : {}),
      ...(outcome === 'fail' ? { error: answer.body.slice(0, 200) } : {}),
    };
    return { op, answer };
  } catch (err) {
    const timeout = err instanceof TimeoutError;
    const code = (err as NodeJS.ErrnoException).code;
    return {
      op: {
        kind,
        ...(id ? { id } : {}),
        start,
        end: Date.now(),
        outcome: timeout ? 'timeout' : 'error',
        error: timeout ? `no answer within the client timeout` : (code ?? (err as Error).message),
      },
    };
  }
}

/** Runs the workload to its bounds and returns every operation, in completion order. */
export async function runLoad(opts: LoadOptions): Promise<Op[]> {
  const agentOptions = { keepAlive: true, maxSockets: opts.concurrency };
  const agent = opts.url.startsWith('https:') ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const mix = opts.mix ?? DEFAULT_MIX;
  const ops: Op[] = [];
  const deadline = Date.now() + opts.durationMs;
  const interval = 1000 / opts.ratePerSec;
  let nextSlot = Date.now();
  let started = 0;
  let writes = 0;
  const record = (op: Op) => {
    ops.push(op);
    opts.onOp?.(op);
  };
  const more = () => Date.now() < deadline && started < opts.maxOps && !opts.signal?.aborted;

  const write = async (): Promise<Answer | undefined> => {
    const id = `${opts.runId}-${++writes}`;
    const body = JSON.stringify({ id, body: writeBody(opts.runId, id) });
    const attempt = () =>
      operation(
        opts.latencyBoundMs,
        'write',
        id,
        () => send(agent, opts, 'POST', '/posts', { body, idempotencyKey: id }),
        (a) => a.status === 201,
      );
    let { op, answer } = await attempt();
    if (opts.retryWrites && retryable(op) && Date.now() < deadline + opts.timeoutMs) {
      // Same id: the app inserts it at most once, so a second try is safe.
      await new Promise((r) => setTimeout(r, 50));
      const second = await attempt();
      op = { ...second.op, start: op.start, attempts: 2, firstFailure: op.error ?? String(op.status) };
      answer = second.answer;
    }
    record(op);
    return op.outcome === 'ok' || op.outcome === 'slow' ? { ...answer!, body: id } : undefined;
  };

  const worker = async (w: number) => {
    for (let i = w; more(); i++) {
      const slot = Math.max(Date.now(), nextSlot);
      nextSlot = slot + interval;
      if (slot > Date.now()) await new Promise((r) => setTimeout(r, slot - Date.now()));
      if (!more()) break;
      started++;
      const what = mix[i % mix.length]!;
      if (what === 'page' || what === 'api') {
        const path = what === 'page' ? '/' : '/api/posts?limit=5';
        const { op } = await operation(
          opts.latencyBoundMs,
          what,
          undefined,
          () => send(agent, opts, 'GET', path),
          (a) => a.status === 200,
        );
        record(op);
      } else if (what === 'write') {
        await write();
      } else {
        const written = await write();
        if (!written) continue;
        // Read-your-writes: through the LB again (round robin: usually the other server),
        // with the session's GTID cookie.
        started++;
        const id = written.body;
        const { op } = await operation(
          opts.latencyBoundMs,
          'read-own',
          id,
          () => send(agent, opts, 'GET', `/posts/${encodeURIComponent(id)}`, { cookie: written.cookie }),
          (a) => a.status === 200,
        );
        record(op);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  agent.destroy();
  return ops;
}
