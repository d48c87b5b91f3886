/**
 * The backup agent on the backup host (issue 10): tandem's Node process, HTTP on the
 * host's address at `plan.backup.agentPort` (the firewall admits only the machine
 * running tandem). Every request but readiness is signed (auth.ts).
 *
 * `POST /backups?kind=full|incremental` takes one now and answers its manifest once the
 * drill ended; one backup at a time (409 while another runs). `GET /backups[?check=1]`
 * lists the manifests; with `check` every stored file's checksum is verified first, and
 * a corrupt one is marked failed.
 */
import fs from 'node:fs';
import http from 'node:http';
import { AUTH_HEADER, verifyRequest } from './auth.ts';
import type { BackupKind } from './manifest.ts';
import { checkAll } from './store.ts';
import { type AgentContext, BackupRefused, listBackups, takeBackup } from './take.ts';

export const AGENT_READY_PATH = '/-/ready';

export function buildAgent(ctx: AgentContext): { server: http.Server; take: (kind: BackupKind) => Promise<unknown> } {
  let busy: Promise<unknown> | null = null;
  const take = (kind: BackupKind) => {
    if (busy) return null;
    const job = takeBackup(ctx, kind).finally(() => (busy = null));
    busy = job;
    return job;
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    const reply = (code: number, body: unknown) =>
      void res.writeHead(code, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
    if (req.method === 'GET' && url.pathname === AGENT_READY_PATH) return void res.end('ok\n');
    const header = req.headers[AUTH_HEADER];
    if (!verifyRequest(ctx.token, typeof header === 'string' ? header : undefined, req.method ?? '', req.url ?? '')) {
      ctx.log(`refused ${req.method} ${url.pathname} from ${req.socket.remoteAddress}`);
      return reply(403, { error: 'forbidden: the request is not signed with the stack backup key' });
    }
    if (url.pathname !== '/backups') return reply(404, { error: 'not found' });
    if (req.method === 'GET') {
      const list = url.searchParams.get('check') === '1' ? checkAll(ctx.config.dir) : Promise.resolve(listBackups(ctx));
      return void list.then(
        (backups) => reply(200, { backups }),
        (err: Error) => reply(500, { error: err.message }),
      );
    }
    if (req.method === 'POST') {
      const kind = url.searchParams.get('kind');
      if (kind !== 'full' && kind !== 'incremental') return reply(400, { error: 'kind is full or incremental' });
      const job = take(kind);
      if (!job) return reply(409, { error: 'a backup is under way on the backup host; try again once it ended' });
      return void job.then(
        (manifest) => reply(200, { manifest }),
        (err: Error) => reply(err instanceof BackupRefused ? 409 : 500, { error: err.message }),
      );
    }
    reply(405, { error: 'method not allowed' });
  });
  return { server, take: (kind) => take(kind) ?? Promise.resolve(null) };
}

/** The key file's secret (0600, written by `up`). */
export function readKey(file: string): string {
  return fs.readFileSync(file, 'utf8').trim();
}
