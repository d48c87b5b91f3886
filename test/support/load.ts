/**
 * A bounded HTTP load: `concurrency` workers issue requests until `durationMs` or
 * `maxRequests` is reached, recording every outcome. Never unbounded.
 */
import * as http from 'node:http';
import * as https from 'node:https';

export interface Outcome {
  readonly start: number;
  readonly end: number;
  readonly status: number;
  readonly error?: string;
  readonly server?: string;
}

export interface LoadOptions {
  readonly url: string;
  readonly host: string;
  readonly paths: readonly string[];
  readonly concurrency: number;
  readonly durationMs: number;
  readonly maxRequests: number;
  /** A request unanswered for this long counts as failed. @default 5000 */
  readonly timeoutMs?: number;
}

type Agent = http.Agent;

function get(agent: Agent, url: URL, host: string, timeoutMs: number): Promise<{ status: number; server?: string }> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? https.request : http.request;
    const req = request(url, { agent, headers: { host }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => {
        let server = res.headers['x-served-by'] as string | undefined;
        if (!server && body.startsWith('{')) {
          try {
            server = (JSON.parse(body) as { server?: string }).server;
          } catch {}
        }
        resolve({ status: res.statusCode ?? 0, server });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function runLoad(opts: LoadOptions): Promise<Outcome[]> {
  const secure = opts.url.startsWith('https:');
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: opts.concurrency })
    : new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const outcomes: Outcome[] = [];
  const deadline = Date.now() + opts.durationMs;
  let issued = 0;
  const worker = async (w: number) => {
    while (Date.now() < deadline && issued < opts.maxRequests) {
      const path = opts.paths[(issued + w) % opts.paths.length]!;
      issued++;
      const start = Date.now();
      try {
        const r = await get(agent, new URL(path, opts.url), opts.host, opts.timeoutMs ?? 5000);
        outcomes.push({ start, end: Date.now(), status: r.status, server: r.server });
      } catch (err) {
        outcomes.push({ start, end: Date.now(), status: 0, error: (err as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  agent.destroy();
  return outcomes;
}

export const failed = (outcomes: readonly Outcome[]) => outcomes.filter((o) => o.status < 200 || o.status >= 400);
