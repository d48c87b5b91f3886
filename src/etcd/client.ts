/**
 * A small etcd v3 client over the JSON gateway (`/v3/...`), with node:http(s) only.
 * Every call has its own deadline per member, and tries the members in turn starting
 * with the last one that answered, so a hung member costs one timeout, not a stall.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import {
  type Compare,
  type KeyValue,
  type Op,
  parseKeepAlive,
  parseRange,
  parseTxn,
  putBody,
  rangeBody,
  txnBody,
} from './wire.ts';

export type { Compare, KeyValue, Op } from './wire.ts';

export interface EtcdOptions {
  /** Client URLs, e.g. `https://10.0.0.1:2379`. */
  readonly endpoints: readonly string[];
  /** PEM files for TLS: the CA that signed the members, and this client's certificate and key. */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** Deadline of one request to one member. @default 300 */
  readonly timeoutMs?: number;
}

/** etcd answered, and refused (a gRPC status, e.g. 5 "lease not found"). Other members would answer the same. */
export class EtcdRefused extends Error {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(`etcd: ${message}`);
    this.name = 'EtcdRefused';
  }
}

/** No member answered in time. */
export class EtcdUnavailable extends Error {
  constructor(readonly failures: readonly string[]) {
    super(`etcd: no member answered (${failures.join('; ')})`);
    this.name = 'EtcdUnavailable';
  }
}

export class EtcdClient {
  private readonly endpoints: readonly URL[];
  private readonly timeoutMs: number;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  private readonly httpsAgent: https.Agent | undefined;
  /** Index of the member that answered last. */
  private preferred = 0;

  constructor(options: EtcdOptions) {
    if (options.endpoints.length === 0) throw new TypeError('etcd: no endpoints');
    this.endpoints = options.endpoints.map((e) => new URL(e));
    this.timeoutMs = options.timeoutMs ?? 300;
    if (this.endpoints.some((u) => u.protocol === 'https:')) {
      this.httpsAgent = new https.Agent({
        keepAlive: true,
        maxSockets: 4,
        ca: options.ca ? readFileSync(options.ca) : undefined,
        cert: options.cert ? readFileSync(options.cert) : undefined,
        key: options.key ? readFileSync(options.key) : undefined,
      });
    }
  }

  async get(key: string): Promise<KeyValue | null> {
    return (await this.range(key))[0] ?? null;
  }

  async range(key: string, options: { prefix?: boolean } = {}): Promise<KeyValue[]> {
    return parseRange(await this.call('/v3/kv/range', rangeBody(key, options)));
  }

  async put(key: string, value: string, lease?: string): Promise<void> {
    await this.call('/v3/kv/put', putBody(key, value, lease));
  }

  async delete(key: string, options: { prefix?: boolean } = {}): Promise<void> {
    await this.call('/v3/kv/deleterange', rangeBody(key, options));
  }

  /** Runs `success` when every comparison holds, else `failure`; atomically. */
  async txn(
    compare: readonly Compare[],
    success: readonly Op[],
    failure: readonly Op[] = [],
  ): Promise<{ succeeded: boolean; kvs: KeyValue[] }> {
    return parseTxn(await this.call('/v3/kv/txn', txnBody(compare, success, failure)));
  }

  /** Grants a lease; returns its id and the TTL etcd granted (it may raise a TTL below its floor). */
  async leaseGrant(ttlS: number): Promise<{ id: string; ttlS: number }> {
    const body = (await this.call('/v3/lease/grant', { TTL: ttlS })) as { ID?: string; TTL?: string };
    if (!body.ID) throw new EtcdRefused(0, 'lease grant answered without an id');
    return { id: body.ID, ttlS: Number(body.TTL ?? ttlS) };
  }

  /** Renews a lease once; returns its TTL, 0 when the lease no longer exists. */
  async leaseKeepAlive(id: string): Promise<number> {
    return parseKeepAlive(await this.call('/v3/lease/keepalive', { ID: id }));
  }

  /** Revokes a lease and deletes its keys; a lease already gone is not an error. */
  async leaseRevoke(id: string): Promise<void> {
    try {
      await this.call('/v3/lease/revoke', { ID: id });
    } catch (err) {
      if (!(err instanceof EtcdRefused && err.grpcCode === 5)) throw err;
    }
  }

  /** The cluster's members: id (uint64 as a string), name and client URLs. */
  async members(): Promise<{ id: string; name: string; clientUrls: string[] }[]> {
    const body = (await this.call('/v3/cluster/member/list', {})) as {
      members?: { ID?: string; name?: string; clientURLs?: string[] }[];
    };
    return (body.members ?? []).map((m) => ({ id: m.ID ?? '', name: m.name ?? '', clientUrls: m.clientURLs ?? [] }));
  }

  /** The id of the member that leads the raft cluster, as one member sees it. */
  async raftLeader(): Promise<string> {
    const body = (await this.call('/v3/maintenance/status', {})) as { leader?: string };
    if (!body.leader) throw new EtcdRefused(0, 'status answered without a leader');
    return body.leader;
  }

  /** Asks the leader (at `leaderUrl`) to hand raft leadership to member `targetId`. */
  async moveLeader(leaderUrl: string, targetId: string): Promise<void> {
    await this.post(new URL(leaderUrl), '/v3/maintenance/transfer-leadership', JSON.stringify({ targetID: targetId }));
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent?.destroy();
  }

  /** POSTs to each member in turn, starting with the last that answered. */
  private async call(path: string, body: unknown): Promise<unknown> {
    const failures: string[] = [];
    const payload = JSON.stringify(body);
    for (let i = 0; i < this.endpoints.length; i++) {
      const index = (this.preferred + i) % this.endpoints.length;
      const endpoint = this.endpoints[index]!;
      try {
        const answer = await this.post(endpoint, path, payload);
        this.preferred = index;
        return answer;
      } catch (err) {
        // Deadline exceeded or unavailable (no leader, say): another member may do better.
        if (err instanceof EtcdRefused && err.grpcCode !== 4 && err.grpcCode !== 14) {
          this.preferred = index;
          throw err;
        }
        failures.push(`${endpoint.host}: ${(err as Error).message}`);
      }
    }
    throw new EtcdUnavailable(failures);
  }

  private post(endpoint: URL, path: string, payload: string): Promise<unknown> {
    const secure = endpoint.protocol === 'https:';
    const request = secure ? https.request : http.request;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | null, value?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value);
      };
      const req = request(
        {
          host: endpoint.hostname,
          port: endpoint.port || 2379,
          path,
          method: 'POST',
          agent: secure ? this.httpsAgent : this.httpAgent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => settle(err));
          // A response cut short (the member died mid-answer) closes without 'end'.
          res.on('close', () => settle(new Error('connection closed mid-answer')));
          res.on('end', () => {
            try {
              settle(null, parseAnswer(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
            } catch (err) {
              settle(err as Error);
            }
          });
        },
      );
      // The deadline settles the call itself: destroying a socket mid-answer need not emit anything.
      const timer = setTimeout(() => {
        settle(new Error(`no answer within ${this.timeoutMs} ms`));
        req.destroy();
      }, this.timeoutMs);
      req.on('error', (err) => settle(err));
      req.end(payload);
    });
  }
}

/** The gateway's answer: JSON, or a gRPC error as JSON. */
function parseAnswer(status: number, text: string): unknown {
  let parsed: { error?: unknown; code?: number; message?: string };
  try {
    // A streamed answer (keepalive) may carry several JSON lines; the first is ours.
    parsed = JSON.parse(text.trim().split('\n')[0] || '{}') as typeof parsed;
  } catch {
    throw new Error(`HTTP ${status}: not JSON: ${text.slice(0, 80)}`);
  }
  const error = parsed.error as { grpc_code?: number; message?: string } | string | undefined;
  if (status !== 200 || error !== undefined) {
    const code = typeof error === 'object' ? (error.grpc_code ?? parsed.code) : parsed.code;
    const message = typeof error === 'object' ? error.message : (parsed.message ?? String(error));
    throw new EtcdRefused(Number(code ?? 0), message ?? `HTTP ${status}`);
  }
  return parsed;
}
