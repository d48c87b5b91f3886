/**
 * Taking one backup, on the backup agent: ask every source how its database is, choose
 * one (manifest.ts `chooseSource`: a healthy replica, else the primary and the log says
 * so), stream its mariadb-backup through `zstd`, AES-256-GCM and sha256 into
 * `<dir>/<id>/`, then run the restore drill and record its verdict in the manifest.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { start } from '../sentinel/reseed.ts';
import { AUTH_HEADER, signRequest } from './auth.ts';
import { encryptStream, hashingStream } from './crypt.ts';
import { compressCommand, drillTables } from './drill.ts';
import {
  type BackupKind,
  type BackupManifest,
  backupFile,
  backupId,
  chooseSource,
  type DrillRecord,
  expiredBackups,
  incrementalBase,
  type SourceState,
  tableMismatches,
} from './manifest.ts';
import type { SourceResult } from './source.ts';
import { checkAll, readManifests, removeBackup, writeManifest } from './store.ts';

/** The agent's config file (orchestrate/backup.ts writes it): addresses and paths, no secret. */
export interface BackupAgentConfig {
  readonly host: string;
  readonly address: string;
  readonly port: number;
  /** `plan.backup.dir`. */
  readonly dir: string;
  /** Scratch space of the drills. */
  readonly workDir: string;
  /** The stack's `backupKey` (0600). */
  readonly keyFile: string;
  readonly schema: string;
  readonly sources: readonly { readonly host: string; readonly address: string; readonly port: number }[];
  /** A replica further behind than this is not healthy: the backup comes from the primary. */
  readonly maxLagS: number;
  readonly timeoutS: number;
  /** The schedule and retention (plan.backup). */
  readonly fullEveryS: number;
  readonly incrementalEveryS: number;
  readonly keepFull: number;
}

export interface AgentContext {
  readonly config: BackupAgentConfig;
  readonly key: Buffer;
  readonly token: string;
  readonly log: (line: string) => void;
}

/** A backup request that failed before anything was stored (no source, no base). */
export class BackupRefused extends Error {}

/** A request to a source, from the agent's own address, signed; the response as it streams. */
function request(
  ctx: AgentContext,
  source: BackupAgentConfig['sources'][number],
  method: string,
  url: string,
  timeoutMs: number,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: source.address,
      port: source.port,
      method,
      path: url,
      localAddress: ctx.config.address,
      headers: { [AUTH_HEADER]: signRequest(ctx.token, method, url) },
      timeout: timeoutMs,
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}

async function json<T>(res: http.IncomingMessage): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as T & { error?: string };
  if (res.statusCode !== 200) throw new Error(body.error ?? `HTTP ${res.statusCode}`);
  return body;
}

async function sourceStates(ctx: AgentContext) {
  const answers = await Promise.all(
    ctx.config.sources.map(async (s) => {
      try {
        return { state: await json<SourceState>(await request(ctx, s, 'GET', '/state', 3000)) };
      } catch (err) {
        return { unreachable: { host: s.host, error: (err as Error).message } };
      }
    }),
  );
  return {
    states: answers.flatMap((a) => (a.state ? [a.state] : [])),
    unreachable: answers.flatMap((a) => (a.unreachable ? [a.unreachable] : [])),
  };
}

/** Takes one backup and drills it; returns its manifest (failed ones too). Throws BackupRefused when none could start. */
export async function takeBackup(ctx: AgentContext, kind: BackupKind): Promise<BackupManifest> {
  const { config, log } = ctx;
  let chain: BackupManifest[] = [];
  if (kind === 'incremental') {
    // Every stored file re-checked first: a corrupt backup is marked failed and never a base.
    chain = incrementalBase(await checkAll(config.dir), () => true) ?? [];
    if (chain.length === 0)
      throw new BackupRefused(
        'no verified full backup with an intact file to build an incremental on: take a full one',
      );
  }
  const { states, unreachable } = await sourceStates(ctx);
  const choice = chooseSource(states, unreachable, config.maxLagS);
  if ('error' in choice) throw new BackupRefused(choice.error);
  const source = config.sources.find((s) => s.host === choice.host)!;
  // An id names the second a backup started: one started within the second of another
  // (a failed one, say) waits for the next second rather than collide with it.
  let startedAt = new Date();
  let id = backupId(startedAt, kind);
  while (fs.existsSync(path.join(config.dir, id))) {
    await new Promise((r) => setTimeout(r, 1005 - (Date.now() % 1000)));
    startedAt = new Date();
    id = backupId(startedAt, kind);
  }
  log(
    choice.role === 'primary'
      ? `${id}: ${choice.why} (${choice.host})`
      : `${id}: ${kind} backup from ${choice.host} (${choice.why})`,
  );
  fs.mkdirSync(config.dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(config.dir, 0o700);
  fs.mkdirSync(path.join(config.dir, id), { mode: 0o700 });
  const base = chain.at(-1);
  const url = `/backup?id=${id}${base ? `&incrementalLsn=${base.checkpoints.toLsn}` : ''}`;
  const stored = await store(ctx, source, url, backupFile(config.dir, id));
  const result = await json<SourceResult>(
    await request(ctx, source, 'GET', `/backup/${id}/result`, config.timeoutS * 1000),
  );
  const common = {
    version: 1 as const,
    id,
    kind,
    ...(base ? { base: base.id } : {}),
    chain: [...chain.map((m) => m.id), id],
    startedAt: startedAt.toISOString(),
    source: { host: choice.host, role: choice.role, why: choice.why },
    streamBytes: result.bytes,
    storedBytes: stored.bytes,
    sha256: stored.sha256,
  };
  if (!result.ok || !result.checkpoints || stored.error) {
    const failure = `the backup did not complete: ${result.error ?? stored.error ?? 'no LSNs from the source'}`;
    const m: BackupManifest = {
      ...common,
      endedAt: new Date().toISOString(),
      gtid: result.gtid ?? '',
      checkpoints: result.checkpoints ?? { backupType: 'unknown', fromLsn: '0', toLsn: '0' },
      verification: 'failed',
      failure,
    };
    writeManifest(config.dir, m);
    log(`${id}: failed: ${failure}`);
    return m;
  }
  const pending: BackupManifest = {
    ...common,
    endedAt: new Date().toISOString(),
    gtid: result.gtid ?? '',
    checkpoints: result.checkpoints,
    verification: 'pending',
  };
  writeManifest(config.dir, pending);
  log(`${id}: stored ${stored.bytes} bytes (stream ${result.bytes}), GTID ${pending.gtid}; drilling`);
  const done = await drill(ctx, [...chain, pending], result);
  writeManifest(config.dir, done);
  log(`${id}: ${done.verification}${done.failure ? `: ${done.failure}` : ''} (drill ${done.drill?.ms ?? '-'} ms)`);
  // Retention: older backups go only once enough newer full ones are verified.
  if (done.kind === 'full' && done.verification === 'verified') {
    for (const old of expiredBackups(readManifests(config.dir), config.keepFull)) {
      removeBackup(config.dir, old);
      log(`${old}: deleted (retention: ${config.keepFull} verified full backups kept)`);
    }
  }
  return done;
}

/** The source's stream → zstd → encrypt → sha256 → the stored file (0600). */
async function store(
  ctx: AgentContext,
  source: BackupAgentConfig['sources'][number],
  url: string,
  file: string,
): Promise<{ bytes: number; sha256: string; error?: string }> {
  const abort = new AbortController();
  const res = await request(ctx, source, 'POST', url, ctx.config.timeoutS * 1000);
  if (res.statusCode !== 200) {
    const error = await json<never>(res).catch((e: Error) => e.message);
    throw new BackupRefused(`${source.host} refused the backup: ${String(error)}`);
  }
  const zstd = start(compressCommand(), abort.signal, 'pipe');
  const hash = hashingStream();
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _e, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const work = [
    pipeline(res, zstd.child.stdin!),
    pipeline(
      zstd.child.stdout!,
      encryptStream(ctx.key),
      hash.stream,
      count,
      fs.createWriteStream(file, { mode: 0o600 }),
    ),
    zstd.exited,
  ];
  try {
    await Promise.all(work);
    return { bytes, sha256: hash.digest() };
  } catch (err) {
    abort.abort();
    // The rest settles first: zstd's last output (its frame's end, once its input broke)
    // would otherwise reach the hash after its digest, which throws and ends the agent.
    await Promise.allSettled(work);
    return { bytes, sha256: hash.digest(), error: `receiving from ${source.host}: ${(err as Error).message}` };
  }
}

/**
 * The drill's verdict. A replica source was counted at the backup's GTID (its SQL thread
 * paused for the backup): every count and checksum must match. A primary source kept
 * committing during its backup, so no figure of it belongs to the backup's GTID: the
 * drill then compares the table list only, and every table must read whole (CHECKSUM
 * TABLE reads each row); its figures are recorded for a person.
 */
async function drill(ctx: AgentContext, chain: BackupManifest[], source: SourceResult): Promise<BackupManifest> {
  const m = chain.at(-1)!;
  const started = Date.now();
  const compared: DrillRecord['compared'] = source.role === 'replica' ? 'at-gtid' : 'tables-only';
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error('the drill took too long')), ctx.config.timeoutS * 1000);
  try {
    const tables = await drillTables(
      ctx.config.dir,
      chain,
      ctx.key,
      path.join(ctx.config.workDir, m.id),
      ctx.config.schema,
      abort.signal,
    );
    const mismatches = tableMismatches(source.tables, tables, compared);
    if (Object.keys(tables).length === 0) mismatches.push(`the restored schema ${ctx.config.schema} has no table`);
    const record: DrillRecord = {
      at: new Date(started).toISOString(),
      ms: Date.now() - started,
      compared,
      tables,
      mismatches,
    };
    return mismatches.length === 0
      ? { ...m, verification: 'verified', drill: record }
      : {
          ...m,
          verification: 'failed',
          failure: `the drill found differences: ${mismatches.join('; ')}`,
          drill: record,
        };
  } catch (err) {
    return { ...m, verification: 'failed', failure: `the drill failed: ${(err as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

/** The manifests as stored, newest last. */
export function listBackups(ctx: AgentContext): BackupManifest[] {
  return readManifests(ctx.config.dir);
}
