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
import { AUTH_HEADER, BACKUP_READY_PATH, verifyRequest } from './auth.ts';
import { type BackupKind, type BackupManifest, scheduledKind } from './manifest.ts';
import { checkAll } from './store.ts';
import { type AgentContext, BackupRefused, listBackups, takeBackup } from './take.ts';

export const METRICS_PATH = '/metrics';

const STARTED_AT_S = Math.floor(Date.now() / 1000);

/**
 * The agent's metrics: when the last verified backup was taken (an alert on its age
 * catches a schedule that stopped), how many stored backups failed (their drill or a
 * later checksum), and whether one runs now.
 */
export function renderAgentMetrics(
  manifests: readonly BackupManifest[],
  running: boolean,
  startedAtS: number = STARTED_AT_S,
): string {
  const verified = manifests.filter((m) => m.verification === 'verified');
  const last = (list: readonly BackupManifest[]) =>
    list.length === 0 ? 0 : Math.max(...list.map((m) => Date.parse(m.startedAt) / 1000));
  const lines = [
    '# HELP tandem_backup_last_verified_timestamp_seconds Start of the newest backup its restore drill verified (0: none).',
    '# TYPE tandem_backup_last_verified_timestamp_seconds gauge',
    `tandem_backup_last_verified_timestamp_seconds ${last(verified)}`,
    '# HELP tandem_backup_last_timestamp_seconds Start of the newest backup, whatever its verdict (0: none).',
    '# TYPE tandem_backup_last_timestamp_seconds gauge',
    `tandem_backup_last_timestamp_seconds ${last(manifests)}`,
    '# HELP tandem_backup_failed Stored backups that failed their drill or a later checksum.',
    '# TYPE tandem_backup_failed gauge',
    `tandem_backup_failed ${manifests.filter((m) => m.verification === 'failed').length}`,
    '# HELP tandem_backup_last_failed Whether the newest backup failed (1) or not (0).',
    '# TYPE tandem_backup_last_failed gauge',
    `tandem_backup_last_failed ${manifests.at(-1)?.verification === 'failed' ? 1 : 0}`,
    '# HELP tandem_backup_running Whether a backup or its drill runs now.',
    '# TYPE tandem_backup_running gauge',
    `tandem_backup_running ${running ? 1 : 0}`,
    // With no verified backup yet, an alert on the agent's age catches a stack never backed up.
    '# HELP tandem_backup_agent_started_timestamp_seconds When this backup agent started.',
    '# TYPE tandem_backup_agent_started_timestamp_seconds gauge',
    `tandem_backup_agent_started_timestamp_seconds ${startedAtS}`,
  ];
  return `${lines.join('\n')}\n`;
}

export function buildAgent(ctx: AgentContext): {
  server: http.Server;
  take: (kind: BackupKind) => Promise<unknown>;
  schedule: (everyMs?: number) => () => void;
} {
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
    if (req.method === 'GET' && url.pathname === BACKUP_READY_PATH) return void res.end('ok\n');
    // For Prometheus on the monitor host: figures only, no backup content.
    if (req.method === 'GET' && url.pathname === METRICS_PATH)
      return void res
        .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        .end(renderAgentMetrics(listBackups(ctx), busy !== null));
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
  /** The schedule, run by the agent itself (not cron): asks `scheduledKind` every `everyMs`. */
  const schedule = (everyMs = 60_000) => {
    const startedAt = Date.now();
    const tick = () => {
      if (busy) return;
      const { fullEveryS, incrementalEveryS } = ctx.config;
      const kind = scheduledKind(listBackups(ctx), Date.now(), startedAt, fullEveryS, incrementalEveryS);
      if (!kind) return;
      ctx.log(`schedule: a ${kind} backup is due`);
      take(kind)?.catch((err: Error) => ctx.log(`schedule: the ${kind} backup was refused: ${err.message}`));
    };
    const timer = setInterval(tick, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  };
  return { server, take: (kind) => take(kind) ?? Promise.resolve(null), schedule };
}

/** The key file's secret (0600, written by `up`). */
export function readKey(file: string): string {
  return fs.readFileSync(file, 'utf8').trim();
}
