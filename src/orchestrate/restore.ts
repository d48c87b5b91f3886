/**
 * `tandem restore --at TIME | --gtid GTID [--into DIR] [--dry-run]` (issue 10).
 *
 * Decided first, touching nothing: the restore plan (restore-plan.ts) over the stored
 * backups and the archive's index (its live file read to its last whole event). Then:
 * - `--into DIR`: the chain restored and the binlogs replayed into DIR/data, and a
 *   scratch MariaDB left running on it (socket only) for a person to copy rows from.
 * - in place: writes frozen (sentinels and archiver stopped, every database read-only:
 *   the site keeps serving reads); the restored datadir built and replayed beside the
 *   stack on a scratch server, which leaves it with the binlog and replica state of the
 *   point; the databases stopped (the site answers 503); each database host's datadir
 *   moved aside and replaced by a copy; the archive and the backups of the abandoned
 *   history moved aside; the sentinels' election keys cleared; `tandem up` starts
 *   everything again (replication, semi-sync, the archive from the new history); then a
 *   fresh full backup, the base of every later restore.
 * A failure before the databases stop leaves the stack as it was (writes thawed); after,
 * the message says where the old datadirs are.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { servicePaths } from '../config/paths.ts';
import { hostOf } from '../config/resolve.ts';
import type { Plan, PlanService } from '../config/types.ts';
import { gtidReached, parseGtidPosition } from '../db/gtid.ts';
import { TandemError } from '../errors.ts';
import { readSupervisor, startSupervised, stopSupervised } from '../hosts/supervise.ts';
import { advance, type ArchiveIndex, archivePosition, formatPosition } from '../backup/archive-index.ts';
import { readIndex } from '../backup/archiver.ts';
import { backupKeyFrom } from '../backup/crypt.ts';
import { restoreChain, startScratchServer } from '../backup/drill.ts';
import type { BackupManifest } from '../backup/manifest.ts';
import { replayBinlogs, type ReplayResult, type ReplayStep, replaySteps, withLiveTails } from '../backup/replay.ts';
import { planRestore, type RestorePlan, RestoreRefused, type RestoreTarget } from '../backup/restore-plan.ts';
import { checkStored, readManifests } from '../backup/store.ts';
import { dbKeys, type LeaderValue } from '../sentinel/keys.ts';
import { backupNow, requireBackupHost, storedBackupKey } from './backup.ts';
import { dbHostsOf, dbPaths } from './database/instance.ts';
import { sql } from './database/sql.ts';
import { etcdKv } from './etcd-kv.ts';
import { drained, setSiteMode } from './lb.ts';
import { writableDatabases } from './failover.ts';
import { unitOf } from './services.ts';
import { up } from './up.ts';

export interface RestorePreview {
  readonly target: RestoreTarget;
  readonly plan: RestorePlan;
  readonly steps: readonly ReplayStep[];
  /** What the archive holds: its last GTID position and last commit time. */
  readonly archive: { readonly position: string; readonly lastTime?: number };
}

const targetText = (t: RestoreTarget) =>
  'time' in t ? `${new Date(t.time * 1000).toISOString().replace('.000Z', 'Z')}` : `GTID ${t.gtid}`;

function lastArchivedTime(index: ArchiveIndex): number | undefined {
  const times = index.files.map((f) => f.lastTime).filter((t): t is number => t !== undefined);
  return times.length ? Math.max(...times) : undefined;
}

/**
 * The restore plan, or a refusal (TandemError) before anything is touched. The chosen
 * chain's files are checked against their checksums: a corrupt backup is passed over
 * (and said so) for the next one that passes.
 */
export async function previewRestore(plan: Plan, target: RestoreTarget): Promise<RestorePreview> {
  const backup = requireBackupHost(plan);
  const index = withLiveTails(readIndex(backup.archiveDir), backup.archiveDir);
  let manifests = readManifests(backup.dir);
  const keyPresent = storedBackupKey(plan) !== undefined;
  try {
    for (;;) {
      const restorePlan = planRestore(manifests, index, target, { keyPresent });
      const corrupt = await firstCorrupt(backup.dir, restorePlan.chain);
      if (corrupt) {
        manifests = manifests.map((m) =>
          m.id === corrupt.id ? { ...m, verification: 'failed', failure: corrupt.problem } : m,
        );
        continue;
      }
      const lastTime = lastArchivedTime(index);
      return {
        target,
        plan: restorePlan,
        steps: replaySteps(restorePlan.binlogs, index, target),
        archive: { position: formatPosition(archivePosition(index)), ...(lastTime !== undefined ? { lastTime } : {}) },
      };
    }
  } catch (err) {
    if (err instanceof RestoreRefused)
      throw new TandemError('TANDEM_STATE', `restore refused, nothing was changed: ${err.message}`);
    throw err;
  }
}

/**
 * How far `index` (with the backup's GTID `base`) is behind the writable database, if
 * one answers: what a replay could not apply.
 */
async function archiveBehind(
  plan: Plan,
  index: ArchiveIndex,
  base: string,
  known?: string,
): Promise<{ primary: string; primaryPos: string; archive: string; transactions: number } | undefined> {
  const writable = known ? [known] : await writableDatabases(plan).catch(() => [] as string[]);
  if (writable.length !== 1) return undefined;
  const primary = writable[0]!;
  const rows = await sql(dbPaths(plan, primary), 'SELECT @@global.gtid_binlog_pos AS pos').catch(() => undefined);
  const primaryPos = String(rows?.[0]?.pos ?? '');
  if (!primaryPos) return undefined;
  const archive = formatPosition(advance(archivePosition(index), base));
  return { primary, primaryPos, archive, transactions: transactionsBetween(archive, primaryPos) };
}

/**
 * Refuses a restore whose point the archive may not reach: the writable database holds
 * transactions the archive has not received, and the point is at or after the archive's
 * last commit (those transactions may be before it). Waits `waitMs` for the archiver to
 * catch up first. A point the archive is already past is fine: the archive holds it.
 */
export async function requireArchiveReaches(
  plan: Plan,
  target: RestoreTarget,
  opts: { waitMs: number; base?: string; primary?: string },
): Promise<void> {
  const deadline = Date.now() + opts.waitMs;
  for (;;) {
    // The index read once per round: the live file is scanned to its last whole event.
    const { archiveDir } = requireBackupHost(plan);
    const index = withLiveTails(readIndex(archiveDir), archiveDir);
    const behind = await archiveBehind(plan, index, opts.base ?? '', opts.primary);
    if (!behind || behind.transactions === 0) return;
    const lastTime = lastArchivedTime(index);
    const covered =
      'time' in target
        ? lastTime !== undefined && Math.floor(target.time) < lastTime
        : gtidReached(advance(archivePosition(index), opts.base ?? ''), parseGtidPosition(target.gtid));
    if (covered) return;
    if (Date.now() >= deadline)
      throw new TandemError(
        'TANDEM_STATE',
        `restore refused, nothing was changed: the binlog archive holds up to ${behind.archive || 'nothing'}${lastTime ? ` (last commit ${new Date(lastTime * 1000).toISOString()})` : ''}, but ${behind.primary} is at ${behind.primaryPos}: ${behind.transactions} committed transaction(s) are not archived, and a restore to ${targetText(target)} would silently leave them out`,
        'see why the archiver is behind with `tandem status` and `tandem logs binlog-archiver`, or choose a point the archive holds',
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function firstCorrupt(
  dir: string,
  chain: readonly BackupManifest[],
): Promise<{ id: string; problem: string } | undefined> {
  for (const m of chain) {
    const problem = await checkStored(dir, m);
    if (problem) return { id: m.id, problem };
  }
  return undefined;
}

/** What a restore will do, for `--dry-run` and the confirmation. */
export function describePreview(p: RestorePreview): string {
  const [full, ...incs] = p.plan.chain;
  const last = p.plan.chain.at(-1)!;
  return [
    `restore to ${targetText(p.target)}`,
    `  backup    ${full!.id} (full${incs.length ? ` + ${incs.length} incremental: ${incs.map((m) => m.id).join(', ')}` : ''}), GTID ${last.gtid || '-'}, ended ${last.endedAt}`,
    ...p.plan.skipped.map((s) => `  skipped   ${s.id}: ${s.why}`),
    `  binlogs   ${p.steps.length} archived file${p.steps.length === 1 ? '' : 's'} replayed after ${p.plan.startGtid || 'the start'}${p.steps.length ? ` (${p.steps.map((s) => s.file.file).join(', ')})` : ''}`,
    `  archive   holds up to ${p.archive.position || 'nothing'}${p.archive.lastTime ? `, last commit ${new Date(p.archive.lastTime * 1000).toISOString()}` : ''}`,
  ].join('\n');
}

/** What an in-place restore loses, said before it asks. */
export function describeLoss(plan: Plan, p: RestorePreview): string {
  return [
    `This replaces the data of ${dbHostsOf(plan).join(' and ')} with the restored point.`,
    `Lost: every transaction committed after ${targetText(p.target)} — the archive holds up to ${p.archive.position || 'nothing'}${p.archive.lastTime ? ` (${new Date(p.archive.lastTime * 1000).toISOString()})` : ''}, and the databases may hold more it had not received.`,
    'Kept aside, not deleted: the current datadirs, the archive and the backups of the abandoned history.',
    'Writes stop while it runs; reads go on until the databases are swapped, then the site answers 503.',
  ].join('\n');
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z');

/** A short folder for a scratch server's socket (under 107 bytes). */
const shortRunDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-restore-'));

/** Restores the chain into `work/data` and replays the binlogs on a scratch server; returns it running. */
async function buildRestored(
  plan: Plan,
  p: RestorePreview,
  work: string,
  opts: { binlog: boolean; detached: boolean },
  signal: AbortSignal,
) {
  const backup = requireBackupHost(plan);
  const key = backupKeyFrom(storedBackupKey(plan)!);
  const datadir = await restoreChain(backup.dir, p.plan.chain, key, path.join(work, 'chain'), signal);
  const data = path.join(work, 'data');
  fs.renameSync(datadir, data);
  fs.rmSync(path.join(work, 'chain'), { recursive: true, force: true });
  const runDir = opts.detached ? path.join(work, 'run') : shortRunDir();
  if (path.join(runDir, 'mysqld.sock').length > 100)
    throw new TandemError('TANDEM_USAGE', `${runDir} is too long a path for a socket: choose a shorter --into folder`);
  const server = await startScratchServer(data, runDir, 120_000, opts);
  try {
    // The grant tables on: the archive may hold CREATE USER or GRANT (a `tandem up` that
    // added a host, say), which a server without them refuses (ERROR 1290). root still
    // enters by its socket (unix_socket), as on the stack's own databases.
    await server.conn.query('FLUSH PRIVILEGES');
    const replay = await replayBinlogs({
      archiveDir: backup.archiveDir,
      steps: p.steps,
      backupGtid: p.plan.chain.at(-1)!.gtid,
      key,
      socket: path.join(runDir, 'mysqld.sock'),
      work: path.join(work, 'binlogs'),
      signal,
    });
    return { server, data, replay };
  } catch (err) {
    server.conn.destroy();
    await server.stop();
    throw err;
  }
}

export interface IntoResult {
  readonly data: string;
  readonly socket: string;
  readonly pid: number;
  readonly replay: ReplayResult;
  readonly ms: number;
}

/** `--into DIR`: a scratch MariaDB on the restored point, left running. */
export async function restoreInto(plan: Plan, p: RestorePreview, dir: string): Promise<IntoResult> {
  const t0 = Date.now();
  const work = path.resolve(dir);
  if (fs.existsSync(work) && fs.readdirSync(work).length > 0)
    throw new TandemError('TANDEM_USAGE', `${work} is not empty: restore --into needs a new or empty folder`);
  await requireArchiveReaches(plan, p.target, { waitMs: 5000, base: p.plan.chain.at(-1)!.gtid });
  fs.mkdirSync(work, { recursive: true, mode: 0o700 });
  const { server, data, replay } = await buildRestored(
    plan,
    p,
    work,
    { binlog: false, detached: true },
    AbortSignal.timeout(3_600_000),
  );
  server.conn.destroy();
  return { data, socket: path.join(server.runDir, 'mysqld.sock'), pid: server.pid, replay, ms: Date.now() - t0 };
}

export interface InPlaceResult {
  readonly replay: ReplayResult;
  /** Phases, ms. */
  readonly ms: { readonly build: number; readonly swap: number; readonly up: number; readonly total: number };
  /** From the databases' stop to the stack serving again: the site's full outage. */
  readonly outageMs: number;
  readonly keptAside: readonly string[];
  readonly backup: BackupManifest | { readonly error: string };
  /** Archived transactions after the point, left out (the archive's position at the start). */
  readonly leftOut: { readonly transactions: number; readonly upTo: string };
}

/** Transactions between two positions, summed over domains (strict mode numbers each domain 1, 2, 3...). */
export function transactionsBetween(from: string, to: string): number {
  const a = parseGtidPosition(from);
  let n = 0n;
  for (const [domain, seq] of parseGtidPosition(to)) {
    const have = a.get(domain) ?? 0n;
    if (seq > have) n += seq - have;
  }
  return Number(n);
}

const servicesOf = (plan: Plan, kinds: readonly PlanService['kind'][]) =>
  plan.services.filter((s) => kinds.includes(s.kind));

async function stopAll(services: readonly PlanService[]): Promise<void> {
  await Promise.all(services.map((s) => stopSupervised(servicePaths(s))));
}

/**
 * Turns every running database read-only (the app's user cannot write); returns a thaw
 * that puts back each one's previous `read_only` (a down one is left alone).
 */
async function freezeWrites(plan: Plan): Promise<() => Promise<void>> {
  const was = new Map<string, string>();
  await Promise.all(
    dbHostsOf(plan).map(async (h) => {
      const paths = dbPaths(plan, h);
      if (!readSupervisor(paths)) return;
      try {
        const rows = await sql(paths, 'SELECT @@global.read_only AS ro; SET GLOBAL read_only = ON;');
        was.set(h, rows[0]?.ro === '1' ? 'ON' : 'OFF');
      } catch {}
    }),
  );
  return async () => {
    await Promise.all([...was].map(([h, ro]) => sql(dbPaths(plan, h), `SET GLOBAL read_only = ${ro}`).catch(() => {})));
  };
}

/**
 * Starts the sentinel of the primary as it was before the freeze, alone, and waits until
 * it holds the leader key again: started together by `up`, the sync replica's sentinel
 * may take the key first (it is eligible), and a restore that changed nothing would
 * have moved the primary.
 */
async function primarySentinelFirst(plan: Plan, primary: string | undefined): Promise<void> {
  const service = plan.services.find((s) => s.kind === 'sentinel' && s.host === primary);
  if (!service || !plan.etcd) return;
  const unit = unitOf(plan, service);
  await startSupervised(unit.paths, unit.spec);
  const kv = etcdKv(plan);
  const leaderKey = dbKeys(plan.etcd.prefix).leader;
  try {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const kvp = await kv.get(leaderKey).catch(() => null);
      if (kvp && (JSON.parse(kvp.value) as LeaderValue).host === primary) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    kv.close();
  }
}

/** Moves `from` to `to` when it exists; returns `to` if it moved. */
function moveAside(from: string, to: string): string | undefined {
  if (!fs.existsSync(from)) return undefined;
  fs.renameSync(from, to);
  return to;
}

/**
 * The in-place restore. `log` says each phase as it starts. Holds the caller's stack lock
 * (it runs `up` itself).
 */
export async function restoreInPlace(
  plan: Plan,
  preview: RestorePreview,
  log: (line: string) => void,
): Promise<InPlaceResult> {
  const t0 = Date.now();
  const target = preview.target;
  // Refused before anything is touched when the archive lacks committed writes the point
  // may include (a stopped or lagging archiver).
  await requireArchiveReaches(plan, target, { waitMs: 5000, base: preview.plan.chain.at(-1)!.gtid });
  const when = stamp();
  const work = path.join(plan.stateDir, 'restore', `${when}-${randomBytes(3).toString('hex')}`);
  // 1. Freeze writes: the LBs refuse them at once (reads go on); the sentinels (they
  // would fence, promote or thaw) and the archiver (its live file must stop growing)
  // stop; every database turns read-only.
  const sentinels = servicesOf(plan, ['sentinel']);
  const frozen = [...sentinels, ...servicesOf(plan, ['binlog-archiver'])];
  log(
    `freezing writes: the LBs answer writes 503; stopping ${frozen.map((s) => s.id).join(', ') || 'nothing'}; databases read-only`,
  );
  const unreached = await setSiteMode(plan, 'read-only');
  if (unreached.length) log(`(the LB on ${unreached.join(', ')} did not answer: it is down, or serves nothing)`);
  let restored: Omit<InPlaceResult, 'backup'>;
  try {
    restored = await restoreFrozen(plan, target, log, { t0, when, work, sentinels });
  } finally {
    await setSiteMode(plan, 'open');
  }
  log('taking a full backup of the restored point (the base of any later restore)');
  const fresh = await backupNow(plan, 'full').catch((err: Error) => ({ error: err.message }));
  return { ...restored, backup: fresh };
}

async function restoreFrozen(
  plan: Plan,
  target: RestoreTarget,
  log: (line: string) => void,
  ctx: { t0: number; when: string; work: string; sentinels: PlanService[] },
): Promise<Omit<InPlaceResult, 'backup'>> {
  const { t0, when, work, sentinels } = ctx;
  const backup = requireBackupHost(plan);
  const signal = AbortSignal.timeout(3_600_000);
  // The replicas' sentinels first: the primary's gives its key up when it stops, and a
  // replica's sentinel still running would take it.
  const writable = new Set(await writableDatabases(plan).catch(() => [] as string[]));
  await stopAll(sentinels.filter((s) => !writable.has(s.host)));
  await stopAll(sentinels.filter((s) => writable.has(s.host)));
  // The archiver receives the last writes (those in flight when the LBs turned) first.
  // (The primary as it was before the freeze: read-only, it is no longer found as writable.)
  const primary = writable.size === 1 ? [...writable][0] : undefined;
  const newest = formatPosition(
    readManifests(backup.dir).reduce((pos, m) => advance(pos, m.gtid), new Map<number, bigint>()),
  );
  await requireArchiveReaches(plan, target, { waitMs: 10_000, base: newest, ...(primary ? { primary } : {}) }).catch(
    () => {},
  );
  await stopAll(servicesOf(plan, ['binlog-archiver']));
  const thaw = await freezeWrites(plan);
  let p: RestorePreview;
  let built: Awaited<ReturnType<typeof buildRestored>>;
  try {
    // The archive's last file is final now: plan again with it, and make sure it holds
    // every transaction the databases committed that the point may include.
    p = await previewRestore(plan, target);
    await requireArchiveReaches(plan, target, {
      waitMs: 0,
      base: p.plan.chain.at(-1)!.gtid,
      ...(primary ? { primary } : {}),
    });
    log(`restoring backup ${p.plan.chain.map((m) => m.id).join(' + ')} and replaying ${p.steps.length} binlog file(s)`);
    fs.mkdirSync(work, { recursive: true, mode: 0o700 });
    built = await buildRestored(plan, p, work, { binlog: true, detached: false }, signal);
    // The datadir leaves with the point's GTID state: an empty binlog that starts there,
    // and the replica position at it.
    const g = built.replay.gtid;
    await built.server.conn.query('RESET MASTER');
    if (g) {
      await built.server.conn.query('SET GLOBAL gtid_binlog_state = ?', [g]);
      await built.server.conn.query('SET GLOBAL gtid_slave_pos = ?', [g]);
    }
    built.server.conn.destroy();
    await built.server.stop();
    fs.rmSync(built.server.runDir, { recursive: true, force: true });
  } catch (err) {
    log('the restore failed before any database was touched: thawing writes, starting what was stopped');
    await thaw();
    await primarySentinelFirst(plan, primary).catch(() => {});
    await up(plan).catch(() => {});
    try {
      fs.rmSync(work, { recursive: true, force: true });
    } catch {}
    if (err instanceof TandemError) throw err;
    throw new TandemError(
      'TANDEM_STATE',
      `the restore failed before any database was touched; writes are thawed and what it stopped runs again: ${(err as Error).message}`,
    );
  }
  const tBuilt = Date.now();
  // 2. Swap: the databases and everything reading them stop; each datadir is replaced.
  const dbKinds: PlanService['kind'][] = ['mariadb', 'backup-source', 'backup-agent'];
  log(`stopping the databases (the site answers 503 until they are back); swapping datadirs`);
  // The LBs answer every request 503 themselves, and the requests in flight finish first:
  // no answer is cut when the servers' health checks fail.
  await setSiteMode(plan, 'down');
  if (!(await drained(plan, 5000))) log('(requests were still in flight after 5 s: they may be cut)');
  await stopAll(servicesOf(plan, dbKinds));
  const keptAside: string[] = [];
  const hosts = dbHostsOf(plan);
  for (const [i, host] of hosts.entries()) {
    const paths = dbPaths(plan, host);
    const aside = moveAside(paths.data, `${paths.data}.before-restore-${when}`);
    if (aside) keptAside.push(aside);
    if (i === hosts.length - 1) fs.renameSync(built.data, paths.data);
    else fs.cpSync(built.data, paths.data, { recursive: true, preserveTimestamps: true });
  }
  // The archive of the abandoned history, and the backups past the point, go aside
  // together: a later restore must not replay them into the new history.
  const backupHostDir = hostOf(plan, backup.host).dir;
  const asideDir = path.join(backupHostDir, `before-restore-${when}`);
  fs.mkdirSync(asideDir, { recursive: true, mode: 0o700 });
  keptAside.push(asideDir);
  moveAside(backup.archiveDir, path.join(asideDir, path.basename(backup.archiveDir)));
  const reached = parseGtidPosition(built.replay.gtid);
  for (const m of readManifests(backup.dir)) {
    if (m.gtid && !gtidReached(reached, parseGtidPosition(m.gtid))) {
      fs.mkdirSync(path.join(asideDir, 'backups'), { recursive: true, mode: 0o700 });
      moveAside(path.join(backup.dir, m.id), path.join(asideDir, 'backups', m.id));
    }
  }
  // The sentinels elect afresh: both databases hold the same point.
  if (plan.db.failover && plan.etcd) {
    const kv = etcdKv(plan);
    const keys = dbKeys(plan.etcd.prefix);
    try {
      for (const key of [
        keys.leader,
        keys.sync,
        keys.switchover,
        ...hosts.flatMap((h) => [keys.member(h), keys.reseedOf(h)]),
      ])
        await kv.delete(key);
    } finally {
      kv.close();
    }
  }
  fs.rmSync(work, { recursive: true, force: true });
  const tSwapped = Date.now();
  // 3. Everything starts again: replication, semi-sync, the archive, the backup services.
  log('starting the stack again (tandem up)');
  await up(plan);
  const tUp = Date.now();
  return {
    replay: built.replay,
    ms: { build: tBuilt - t0, swap: tSwapped - tBuilt, up: tUp - tSwapped, total: tUp - t0 },
    outageMs: tUp - tBuilt,
    keptAside,
    leftOut: {
      transactions: transactionsBetween(built.replay.gtid, p.archive.position),
      upTo: p.archive.position,
    },
  };
}
