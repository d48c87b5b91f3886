/**
 * The sentinel's loop: each tick it renews its lease, observes its database and the
 * keys in etcd, decides (decide.ts) and acts. A watchdog apart from the tick fences the
 * database when the leader's lease may expire, even while a tick waits on etcd.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { EtcdClient, EtcdUnavailable, type KeyValue } from '../etcd/client.ts';
import type { SentinelConfig, SentinelPeer } from './config.ts';
import {
  fenceDue,
  pausedForBackup,
  promotionVerdict,
  reached,
  rejoinVerdict,
  syncCandidate,
  syncStep,
} from './decide.ts';
import {
  type DbKeys,
  dbKeys,
  type HistoryValue,
  type LeaderValue,
  type MemberRole,
  type MemberValue,
  parseValue,
  type ReseedRequest,
  type SwitchoverValue,
  type SyncValue,
} from './keys.ts';
import { type DbObservation, isRefused, LocalDb } from './local-db.ts';
import { finishRestore, loadLastRecord, type PendingRestore, pendingRestore, reseed, sendBackup } from './reseed.ts';
import { type ReseedRecord, reseedDue } from './reseed-plan.ts';
import type { SentinelCounters } from './metrics.ts';

/** Consecutive unanswered observations after which a database that still accepts connections counts as down. */
const HUNG_TICKS = 5;

interface View {
  leader: { value: LeaderValue; kv: KeyValue } | null;
  sync: { value: SyncValue; kv: KeyValue } | null;
  members: Map<string, MemberValue>;
  switchover: SwitchoverValue | null;
  reseeds: ReseedRequest[];
}

export interface SentinelState {
  readonly host: string;
  readonly role: MemberRole;
  readonly leader: LeaderValue | null;
  readonly sync: SyncValue | null;
  readonly holdsLeader: boolean;
  readonly term: number | null;
  readonly fenced: { at: number; how: string } | null;
  readonly diverged: string | null;
  /** The last reseed of this database (from the primary, after a divergence), or the one under way. */
  readonly reseed: ReseedRecord | null;
  /** Why this replica would not be promoted, when the leader key is absent. */
  readonly notPromoted: string | null;
  readonly etcdOk: boolean;
  readonly lastRenewAgoMs: number | null;
  readonly db: DbObservation | null;
  readonly lastError: string | null;
  readonly updatedAt: number;
}

type Log = (event: string, fields?: Record<string, unknown>) => void;

export class Sentinel {
  private readonly etcd: EtcdClient;
  private readonly db: LocalDb;
  private readonly keys: DbKeys;
  private readonly self: SentinelPeer;
  private lease: { id: string; ttlMs: number } | null = null;
  private lastRenewSentAt = 0;
  private holding: LeaderValue | null = null;
  /** The promotion steps on the database are still to finish. */
  private promoting = false;
  /** This promotion took a backup's pause over: the SQL thread is to be started again. */
  private resumeSqlThread = false;
  private fenced: { at: number; how: string } | null = null;
  private fencing: Promise<void> | null = null;
  private diverged: string | null = null;
  /** Wall-clock ms when the current divergence was first seen. */
  private divergedAt: number | null = null;
  private reseeding = false;
  private reseedRecord: ReseedRecord | null = null;
  /** A reseed swapped the datadir but did not set its binlog state (this sentinel stopped in between). */
  private unfinishedRestore: PendingRestore | null = null;
  /** Reseed requests this sentinel has served (as the donor). */
  private readonly served = new Set<string>();
  private attachedTo: string | null = null;
  private notPromoted: string | null = null;
  private obs: DbObservation | null = null;
  private view: View | null = null;
  private dbMisses = 0;
  private dbDown = false;
  private etcdOk = false;
  private lastError: string | null = null;
  private waitingSince = 0;
  /** The primary's binlog position when this sentinel turned semi-sync on. */
  private semiOnPos: string | null = null;
  private unackedSince = 0;
  private lastMember = '';
  private lastMemberAt = 0;
  private handledSwitchover = '';
  private stopped = false;
  private watchdog: NodeJS.Timeout | undefined;
  private renewer: NodeJS.Timeout | undefined;
  private renewing = false;
  private counts = { fences: 0, promotions: 0 };

  constructor(
    private readonly config: SentinelConfig,
    private readonly log: Log = defaultLog(config.host),
    private readonly now: () => number = () => performance.timeOrigin + performance.now(),
  ) {
    this.etcd = new EtcdClient({ ...config.etcd, timeoutMs: config.etcd.timeoutMs });
    this.db = new LocalDb(config.db.socket, config.db.pidFile);
    this.keys = dbKeys(config.prefix);
    this.self = config.peers.find((p) => p.host === config.host)!;
    if (config.reseed) {
      this.reseedRecord = loadLastRecord(config.reseed.keepDir);
      this.unfinishedRestore = pendingRestore(config.reseed);
    }
  }

  /** Runs until stop(): one tick every `tickMs`, and the fencing watchdog. */
  async run(): Promise<void> {
    this.watchdog = setInterval(() => this.checkLease(), Math.max(10, Math.floor(this.config.tickMs / 4)));
    // Renewed apart from the tick too: a promotion's slow statements must not let the lease lapse.
    this.renewer = setInterval(() => this.keepLeaseAlive(), Math.max(20, Math.floor(this.config.tickMs / 2)));
    this.log('start', { leaseTtlS: this.config.leaseTtlS, tickMs: this.config.tickMs });
    while (!this.stopped) {
      const started = this.now();
      try {
        await withStuckLimit(this.tick());
        this.lastError = null;
      } catch (err) {
        if (err instanceof StuckTick) throw err;
        if (err instanceof EtcdUnavailable) this.etcdOk = false;
        this.lastError = (err as Error).message;
        this.log('tick-error', { error: this.lastError });
      }
      this.writeState();
      const rest = this.config.tickMs - (this.now() - started);
      if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    }
  }

  /** Stops the loop; gives the leader key up (a planned stop needs no lease expiry). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearInterval(this.renewer);
    if (this.holding) await this.releaseLeader('sentinel stopping').catch(() => {});
    if (this.lease) await this.etcd.leaseRevoke(this.lease.id).catch(() => {});
    this.db.close();
    this.etcd.close();
  }

  async tick(): Promise<void> {
    await this.observeDb();
    await this.renewLease();
    const view = await this.readView();
    this.view = view;
    this.etcdOk = true;
    await this.publishMember(view);
    this.serveReseeds(view);
    if (this.holding) await this.leaderTick(view);
    else await this.followerTick(view);
  }

  // ---- observation ------------------------------------------------------------------

  private async observeDb(): Promise<void> {
    const timeoutMs = Math.max(200, this.config.tickMs * 3);
    try {
      try {
        this.obs = await this.db.observe(timeoutMs);
      } catch (err) {
        // A connection reset by a dying server: a fresh connection tells down (refused) from a blip, now.
        if (isRefused(err)) throw err;
        this.db.close();
        this.obs = await this.db.observe(timeoutMs);
      }
      this.dbMisses = 0;
      if (this.dbDown) this.log('db-up');
      this.dbDown = false;
    } catch (err) {
      this.obs = null;
      this.dbMisses++;
      const down = isRefused(err) || this.dbMisses >= HUNG_TICKS;
      if (down && !this.dbDown) this.log('db-down', { error: (err as Error).message });
      // A restarted database is checked and attached again (its threads may not run: skip_slave_start).
      if (down) this.attachedTo = null;
      this.dbDown = down;
    }
  }

  /** One keepalive at a time, on its own timer: whatever the tick is waiting for. */
  private keepLeaseAlive(): void {
    const lease = this.lease;
    if (this.renewing || !lease || this.stopped) return;
    this.renewing = true;
    const sentAt = this.now();
    this.etcd
      .leaseKeepAlive(lease.id)
      .then((ttl) => {
        if (this.lease !== lease) return;
        if (ttl > 0) {
          this.lastRenewSentAt = Math.max(this.lastRenewSentAt, sentAt);
          return;
        }
        this.log('lease-lost', { lease: lease.id });
        this.lease = null;
        if (this.holding) this.startFence('lease expired');
      })
      .catch(() => {})
      .finally(() => (this.renewing = false));
  }

  /** A lease when there is none (the renewer keeps an existing one alive). */
  private async renewLease(): Promise<void> {
    if (this.lease) return;
    const sentAt = this.now();
    const granted = await this.etcd.leaseGrant(this.config.leaseTtlS);
    this.lease = { id: granted.id, ttlMs: granted.ttlS * 1000 };
    this.lastRenewSentAt = sentAt;
    this.lastMember = '';
  }

  private async readView(): Promise<View> {
    const kvs = await this.etcd.range(this.keys.root, { prefix: true });
    const view: View = { leader: null, sync: null, members: new Map(), switchover: null, reseeds: [] };
    for (const kv of kvs) {
      if (kv.key === this.keys.leader) {
        const value = parseValue<LeaderValue>(kv);
        if (value) view.leader = { value, kv };
      } else if (kv.key === this.keys.sync) {
        const value = parseValue<SyncValue>(kv);
        if (value) view.sync = { value, kv };
      } else if (kv.key === this.keys.switchover) {
        view.switchover = parseValue<SwitchoverValue>(kv);
      } else if (kv.key.startsWith(this.keys.reseeds)) {
        const value = parseValue<ReseedRequest>(kv);
        if (value) view.reseeds.push(value);
      } else if (kv.key.startsWith(this.keys.members)) {
        const value = parseValue<MemberValue>(kv);
        if (value) view.members.set(value.host, value);
      }
    }
    return view;
  }

  private role(): MemberRole {
    if (this.dbDown || !this.obs) return this.obs ? 'starting' : 'down';
    if (this.diverged) return 'diverged';
    if (this.holding && !this.promoting) return 'primary';
    if (this.fenced && !this.attachedTo) return 'fenced';
    return this.obs.slave.configured ? 'replica' : 'starting';
  }

  private async publishMember(_view: View): Promise<void> {
    const o = this.obs;
    const member: Omit<MemberValue, 'at'> = {
      host: this.config.host,
      role: this.role(),
      readOnly: o?.readOnly ?? true,
      gtidBinlogPos: o?.gtidBinlogPos ?? '',
      gtidBinlogState: o?.gtidBinlogState ?? '',
      gtidSlavePos: o?.gtidSlavePos ?? '',
      gtidIoPos: o?.slave.gtidIoPos ?? '',
      masterHost: o?.slave.masterHost ?? '',
      ioRunning: o?.slave.ioRunning ?? false,
      sqlRunning: o?.slave.sqlRunning ?? false,
      pausedForBackup: this.pausedForBackup(),
      lagS: o?.slave.lagS ?? null,
    };
    const text = JSON.stringify(member);
    // Unchanged keys are kept alive by the lease; a refresh each second shows the sentinel lives.
    if (text === this.lastMember && this.now() - this.lastMemberAt < 1000) return;
    await this.etcd.put(
      this.keys.member(this.config.host),
      JSON.stringify({ ...member, at: Date.now() }),
      this.lease!.id,
    );
    this.lastMember = text;
    this.lastMemberAt = this.now();
  }

  // ---- the leader -------------------------------------------------------------------

  /** The watchdog: fence before the lease can expire for the others. */
  private checkLease(): void {
    if (!this.holding || !this.lease || this.fencing) return;
    if (fenceDue(this.now(), this.lastRenewSentAt, this.lease.ttlMs)) {
      this.startFence(`no lease renewal for ${Math.round(this.now() - this.lastRenewSentAt)} ms`);
    }
  }

  private startFence(reason: string): void {
    if (this.fencing) return;
    this.holding = null;
    this.promoting = false;
    this.attachedTo = null;
    const started = this.now();
    this.fencing = this.db
      .fence(this.config.fenceTimeoutMs)
      .then((how) => {
        this.fenced = { at: Date.now(), how };
        this.counts.fences++;
        this.log('fenced', { reason, how, ms: Math.round(this.now() - started) });
      })
      .finally(() => {
        this.fencing = null;
      });
  }

  private ownsLeaderKey(view: View): boolean {
    const l = view.leader;
    return l !== null && l.value.host === this.config.host && l.kv.lease === this.lease?.id;
  }

  private async leaderTick(view: View): Promise<void> {
    const holding = this.holding!;
    if (!this.ownsLeaderKey(view) || view.leader!.value.term !== holding.term) {
      this.startFence('the leader key is no longer ours');
      return;
    }
    if (this.dbDown) {
      await this.releaseLeader('the database is down');
      return;
    }
    if (!this.obs) return;
    if (this.promoting) {
      await this.finishPromotion(holding);
      return;
    }
    if (this.obs.readOnly && !this.fencing && this.holding === holding) await this.db.setReadOnly(false);
    if (this.obs.slave.configured && !this.resettingReplication) {
      this.watchReplicationReset(this.db.resetReplication(), 'leftover');
    }
    await this.handleSwitchover(view);
    if (this.holding) await this.manageSemiSync(view);
    if (this.holding) this.keepEtcdLeaderAway();
  }

  private resettingReplication = false;

  /**
   * The primary forgets its old primary in the background (see LocalDb.promote); a
   * reset that failed is tried again by the next leader tick that sees it replicating.
   */
  private watchReplicationReset(reset: Promise<void>, why: 'promotion' | 'leftover'): void {
    this.resettingReplication = true;
    const started = this.now();
    reset
      .then(
        () => this.log('replication-reset', { why, ms: Math.round(this.now() - started) }),
        (err: unknown) => this.log('replication-reset-error', { why, error: String((err as Error)?.message ?? err) }),
      )
      .finally(() => (this.resettingReplication = false));
  }

  private etcdLeaderCheckedAt = 0;

  /**
   * Keeps etcd's raft leader off the primary's host. Were this host cut off while it also
   * led etcd, the others would first elect a new etcd leader, which extends every lease
   * by an election timeout: the failover would wait for both. Checked every few seconds,
   * in the background (a slow answer never holds a tick up).
   */
  private keepEtcdLeaderAway(): void {
    if (this.now() - this.etcdLeaderCheckedAt < 3000) return;
    this.etcdLeaderCheckedAt = this.now();
    const dbHosts = new Set(this.config.peers.map((p) => p.host));
    void (async () => {
      const [members, leaderId] = await Promise.all([this.etcd.members(), this.etcd.raftLeader()]);
      const leader = members.find((m) => m.id === leaderId);
      if (!leader || leader.name !== this.config.host || !leader.clientUrls[0]) return;
      const others = members.filter((m) => m.id !== leaderId);
      // Best a member beside no database; else any other.
      const target = others.find((m) => !dbHosts.has(m.name)) ?? others[0];
      if (!target) return;
      await this.etcd.moveLeader(leader.clientUrls[0], target.id);
      this.log('etcd-leader-moved', { from: leader.name, to: target.name });
    })().catch((err: unknown) => this.log('etcd-leader-move-failed', { error: (err as Error).message }));
  }

  /** Gives the leader key up at once (compare: still ours), so a replica need not wait for the lease. */
  private async releaseLeader(reason: string): Promise<void> {
    const holding = this.holding;
    this.holding = null;
    this.promoting = false;
    this.attachedTo = null;
    if (!holding) return;
    await this.etcd.txn(
      [{ key: this.keys.leader, target: 'VALUE', value: JSON.stringify(holding) }],
      [{ delete: this.keys.leader }],
    );
    this.log('released', { reason, term: holding.term });
  }

  private async manageSemiSync(view: View): Promise<void> {
    const o = this.obs!;
    const sync = view.sync?.value;
    if (!sync || sync.primary !== this.config.host) return;
    const now = this.now();
    this.waitingSince = o.semi.waitSessions > 0 ? this.waitingSince || now : 0;
    this.unackedSince = o.semi.enabled && !(o.semi.on && o.semi.clients > 0) ? this.unackedSince || now : 0;
    const members = [...view.members.values()];
    const candidate = syncCandidate(members, this.self);
    const candidateMember = candidate !== null ? view.members.get(candidate) : undefined;
    const since = this.semiOnPos ?? o.gtidBinlogPos;
    const step = syncStep({
      sync,
      semi: o.semi,
      candidate,
      candidateCaughtUp:
        candidateMember !== undefined &&
        (since === '' || reached(candidateMember.gtidIoPos || candidateMember.gtidSlavePos, since)),
      // Its member key gone (sentinel cut off), its database down, or its IO thread stopped.
      eligibleReplicating:
        sync.eligible !== null &&
        syncCandidate(
          members.filter((m) => m.host === sync.eligible),
          this.self,
        ) !== null,
      waitingMs: this.waitingSince ? Math.round(now - this.waitingSince) : 0,
      unackedMs: this.unackedSince ? Math.round(now - this.unackedSince) : 0,
      syncWaitMs: this.config.syncWaitMs,
    });
    switch (step.kind) {
      case 'drop':
        // etcd first: only once no replica is recorded eligible may commits go unacknowledged.
        if (await this.writeSync({ ...sync, eligible: null })) {
          await this.db.setSemiSyncMaster(false);
          this.semiOnPos = null;
          this.log('sync-dropped', { replica: sync.eligible, reason: step.reason });
        }
        break;
      case 'disable':
        await this.db.setSemiSyncMaster(false);
        this.semiOnPos = null;
        this.log('semi-sync-off', { reason: step.reason });
        break;
      case 'enable':
        await this.db.setSemiSyncMaster(true);
        // Everything committed from here on waits for an acknowledgement; what came before must arrive too.
        this.semiOnPos = (await this.db.observe(1000)).gtidBinlogPos;
        this.unackedSince = this.now();
        this.log('semi-sync-on', { candidate: step.candidate });
        break;
      case 'record':
        if (await this.writeSync({ ...sync, eligible: step.eligible })) {
          this.log('sync-recorded', { replica: step.eligible });
        }
        break;
    }
  }

  /** Writes `sync` only while the leader key is still ours. */
  private async writeSync(sync: SyncValue): Promise<boolean> {
    const r = await this.etcd.txn(
      [{ key: this.keys.leader, target: 'VALUE', value: JSON.stringify(this.holding) }],
      [{ put: this.keys.sync, value: JSON.stringify(sync) }],
    );
    if (!r.succeeded) this.startFence('the leader key changed under us');
    return r.succeeded;
  }

  private async handleSwitchover(view: View): Promise<void> {
    const req = view.switchover;
    if (!req || req.refused || req.id === this.handledSwitchover || req.from !== this.config.host) return;
    this.handledSwitchover = req.id;
    const target = view.members.get(req.to);
    const refuse = async (why: string) => {
      this.log('switchover-refused', { to: req.to, why });
      await this.etcd.put(this.keys.switchover, JSON.stringify({ ...req, refused: why }));
    };
    if (view.sync?.value.eligible !== req.to || !target || target.role !== 'replica') {
      return refuse(`${req.to} is not the sync replica`);
    }
    const started = this.now();
    // Stop writes gracefully: read_only waits for the commits in flight (the sync replica
    // acknowledges them), and every later write is refused as read-only, which the app
    // retries on the new primary. A fence would kill the connections, and with them a
    // write whose outcome the app then cannot know (measured: one 503 per switchover).
    if (!(await this.db.demote(1000))) {
      await this.db.setReadOnly(false).catch(() => {});
      return refuse('could not stop writes: read_only did not take within 1 s');
    }
    const want = (await this.db.observe(1000)).gtidBinlogPos;
    const deadline = this.now() + 3000;
    for (;;) {
      const m = parseValue<MemberValue>(await this.etcd.get(this.keys.member(req.to)));
      if (m && (want === '' || reached(m.gtidIoPos || m.gtidSlavePos, want))) break;
      if (this.now() > deadline) {
        await this.db.setReadOnly(false);
        return refuse(`${req.to} did not receive ${want} within 3 s`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const holding = this.holding!;
    const handed = await this.etcd.txn(
      [{ key: this.keys.leader, target: 'VALUE', value: JSON.stringify(holding) }],
      [
        { delete: this.keys.leader },
        { put: this.keys.sync, value: JSON.stringify({ primary: req.to, term: holding.term, eligible: req.to }) },
      ],
    );
    this.holding = null;
    this.attachedTo = null;
    this.fenced = { at: Date.now(), how: 'switchover' };
    this.log('switchover-handed', { to: req.to, ok: handed.succeeded, ms: Math.round(this.now() - started) });
  }

  // ---- a replica, or a database without the key -------------------------------------

  private async followerTick(view: View): Promise<void> {
    if (this.ownsLeaderKey(view)) {
      // Still our key after a fence (etcd answered again before the lease ran out, or the
      // database died while the fence ran): give it up at once, and let the rules choose again.
      await this.etcd.txn(
        [{ key: this.keys.leader, target: 'MOD', revision: view.leader!.kv.modRevision }],
        [{ delete: this.keys.leader }],
      );
      this.log('released', { reason: 'fenced while holding the key' });
      return;
    }
    const o = this.obs;
    if (!o || this.dbDown) return;
    const leader = view.leader?.value ?? null;
    // Never two writable databases: anything not holding the key is read-only.
    if (!o.readOnly && !this.fencing) this.startFence(leader ? `${leader.host} holds the leader key` : 'no leader key');
    if (leader === null) {
      await this.maybePromote(view);
      return;
    }
    this.notPromoted = null;
    if (leader.host === this.config.host) return; // a key from an earlier run's lease: it expires
    await this.follow(view, leader);
  }

  private async maybePromote(view: View): Promise<void> {
    const sync = view.sync?.value ?? null;
    const verdict = promotionVerdict({
      host: this.config.host,
      bootstrapPrimary: this.config.bootstrapPrimary,
      sync,
      dbUp: !this.dbDown,
      diverged: this.diverged !== null,
    });
    if (!verdict.ok) {
      if (this.notPromoted !== verdict.reason) this.log('not-promoting', { reason: verdict.reason });
      this.notPromoted = verdict.reason;
      return;
    }
    this.notPromoted = null;
    if (this.fencing) await this.fencing;
    const term = (sync?.term ?? 0) + 1;
    const leader: LeaderValue = { host: this.config.host, term };
    const history: HistoryValue = {
      term,
      from: sync?.primary ?? null,
      to: this.config.host,
      reason: verdict.reason,
      at: Date.now(),
    };
    const taken = await this.etcd.txn(
      [
        { key: this.keys.leader, target: 'CREATE', revision: '0' },
        view.sync
          ? { key: this.keys.sync, target: 'MOD', revision: view.sync.kv.modRevision }
          : { key: this.keys.sync, target: 'CREATE', revision: '0' },
      ],
      [
        { put: this.keys.leader, value: JSON.stringify(leader), lease: this.lease!.id },
        { put: this.keys.sync, value: JSON.stringify({ primary: this.config.host, term, eligible: null }) },
        { put: this.keys.historyOf(term), value: JSON.stringify(history) },
      ],
    );
    if (!taken.succeeded) return;
    this.holding = leader;
    this.promoting = true;
    this.lastRenewSentAt = Math.max(this.lastRenewSentAt, this.now() - 1);
    this.counts.promotions++;
    this.log('leader', { term, reason: verdict.reason });
    await this.finishPromotion(leader);
  }

  /** The database steps of a promotion; the last, `read_only=OFF`, only while the key is still ours. */
  private async finishPromotion(leader: LeaderValue): Promise<void> {
    this.resumeSqlThread ||= this.claimBackupPause();
    const { steps, settled } = await this.db.promote(30, this.resumeSqlThread);
    this.resumeSqlThread = false;
    if (settled) this.watchReplicationReset(settled, 'promotion');
    if (this.holding !== leader || this.fencing) return;
    await this.db.setReadOnly(false);
    this.promoting = false;
    this.fenced = null;
    this.diverged = null;
    this.attachedTo = null;
    this.log('writable', { term: leader.term, steps });
  }

  private async follow(view: View, leader: LeaderValue): Promise<void> {
    // The reseed swaps the datadir and sets the binlog state; the rejoin below comes after it.
    if (this.reseeding) return;
    // Also a reseed that ran out of time after its swap: its datadir still says what it needs.
    if (this.config.reseed && !this.attachedTo) this.unfinishedRestore ??= pendingRestore(this.config.reseed);
    if (this.unfinishedRestore && this.config.reseed) {
      await finishRestore(this.db, this.config.reseed, this.unfinishedRestore);
      this.log('reseed-restore-finished', { gtid: this.unfinishedRestore.gtid });
      this.unfinishedRestore = null;
      this.diverged = null;
      this.divergedAt = null;
      return;
    }
    const o = this.obs!;
    const primary = this.config.peers.find((p) => p.host === leader.host);
    if (!primary) throw new Error(`the leader ${leader.host} is not among the peers`);
    const attached =
      o.slave.configured && o.slave.masterHost === primary.address && o.slave.masterPort === primary.port;
    if (attached && this.attachedTo === leader.host) {
      if (!o.semiSlaveEnabled) await this.db.enableSemiSyncSlave();
      return;
    }
    if (
      attached &&
      this.attachedTo === null &&
      !this.fenced &&
      o.slave.ioRunning &&
      (o.slave.sqlRunning || this.pausedForBackup())
    ) {
      // Replicating from the leader already (the start-up topology): adopt it. Stopped
      // threads (skip_slave_start) go through the prefix check below first; a backup's
      // pause is left alone (a rejoin would restart the SQL thread under the backup).
      this.attachedTo = leader.host;
      this.log('following', { leader: leader.host, adopted: true });
      return;
    }
    const leaderMember = view.members.get(leader.host);
    if (!leaderMember || leaderMember.role !== 'primary') return; // wait until it publishes its binlog state
    const verdict = rejoinVerdict(o.gtidBinlogPos, leaderMember.gtidBinlogState);
    if (!verdict.ok) {
      if (this.diverged === null) {
        this.log('diverged', { leader: leader.host, reason: verdict.reason });
        this.divergedAt = Date.now();
      }
      this.diverged = verdict.reason;
      if (!o.readOnly) await this.db.setReadOnly(true);
      this.maybeReseed(leaderMember, primary, verdict.reason);
      return;
    }
    this.diverged = null;
    this.divergedAt = null;
    const password = readFileSync(this.config.replication.passwordFile, 'utf8').trim();
    await this.db.replicateFrom(primary, this.config.replication.user, password, o.gtidBinlogPos);
    this.attachedTo = leader.host;
    this.fenced = null;
    this.log('following', { leader: leader.host, from: o.gtidBinlogPos });
  }

  // ---- a backup's pause of the SQL thread ---------------------------------------------

  /** The SQL thread is stopped by the backup source beside this database (decide.ts). */
  private pausedForBackup(): boolean {
    const marker = this.config.backupPauseMarker;
    return this.obs !== null && marker !== undefined && pausedForBackup(this.obs.slave, existsSync(marker));
  }

  /**
   * A promotion takes a backup's pause over: the marker removed first, so the backup
   * source abandons its backup (its figures are no longer at its GTID) and does not start
   * the SQL thread again later, on what is by then a primary. True when there was one.
   */
  private claimBackupPause(): boolean {
    const marker = this.config.backupPauseMarker;
    if (marker === undefined) return false;
    let backup: string;
    try {
      backup = readFileSync(marker, 'utf8').trim();
    } catch {
      return false; // none, or the source just ended its pause
    }
    rmSync(marker, { force: true });
    this.log('backup-pause-claimed', { backup });
    return true;
  }

  // ---- reseeding a diverged database ----------------------------------------------

  /** Starts a reseed from the leader once the divergence is firm (reseedDue); it runs beside the ticks. */
  private maybeReseed(leaderMember: MemberValue, primary: SentinelPeer, reason: string): void {
    const config = this.config.reseed;
    if (!config || this.reseeding || !this.lease) return;
    const due = reseedDue({
      firstSeenAt: this.divergedAt,
      leaderKeyAt: leaderMember.at,
      now: Date.now(),
      settleMs: config.settleMs,
      lastFailureAt: this.reseedRecord?.state === 'failed' ? (this.reseedRecord.endedAt ?? null) : null,
      retryMs: config.retryMs,
    });
    if (!due) return;
    this.reseeding = true;
    const lease = this.lease.id;
    const key = this.keys.reseedOf(this.config.host);
    void reseed({
      config,
      host: this.config.host,
      address: this.config.db.address,
      db: this.db,
      pidFile: this.obs?.pidFile ?? this.config.db.pidFile ?? '',
      donor: { host: leaderMember.host, address: primary.address },
      donorBinlogState: () =>
        this.view?.members.get(leaderMember.host)?.gtidBinlogState ?? leaderMember.gtidBinlogState,
      reason,
      request: (req) => this.etcd.put(key, JSON.stringify(req), lease),
      withdraw: () => this.etcd.delete(key),
      progress: (record) => {
        this.reseedRecord = record;
        this.writeState();
      },
      log: this.log,
    })
      .then((record) => {
        if (record.state !== 'done') return;
        // Restored at the backup's point: the usual rejoin (prefix check, replication) takes it from here.
        this.diverged = null;
        this.divergedAt = null;
        this.attachedTo = null;
      })
      .finally(() => (this.reseeding = false));
  }

  /** As the primary: a backup for each diverged database that asks this host for one. */
  private serveReseeds(view: View): void {
    const config = this.config.reseed;
    if (!config || !this.holding || this.promoting) return;
    for (const req of view.reseeds) {
      if (req.from !== this.config.host || this.served.has(req.id)) continue;
      this.served.add(req.id);
      const password = readFileSync(config.passwordFile, 'utf8').trim();
      this.log('reseed-serving', { to: req.host, id: req.id });
      sendBackup(req, { config, localAddress: this.config.db.address, password }).then(
        ({ bytes, ms }) => this.log('reseed-served', { to: req.host, id: req.id, bytes, ms }),
        (err: unknown) => this.log('reseed-serve-failed', { to: req.host, id: req.id, error: (err as Error).message }),
      );
    }
  }

  // ---- the state file ---------------------------------------------------------------

  state(): SentinelState {
    return {
      host: this.config.host,
      role: this.role(),
      leader: this.view?.leader?.value ?? null,
      sync: this.view?.sync?.value ?? null,
      holdsLeader: this.holding !== null,
      term: this.holding?.term ?? null,
      fenced: this.fenced,
      diverged: this.diverged,
      reseed: this.reseedRecord,
      notPromoted: this.notPromoted,
      etcdOk: this.etcdOk,
      lastRenewAgoMs: this.lease ? Math.round(this.now() - this.lastRenewSentAt) : null,
      db: this.obs,
      lastError: this.lastError,
      updatedAt: Date.now(),
    };
  }

  /** What it counted since it started, for its metrics. */
  counters(): SentinelCounters {
    return { ...this.counts };
  }

  private writeState(): void {
    const tmp = `${this.config.stateFile}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify(this.state(), null, 2)}\n`);
      renameSync(tmp, this.config.stateFile);
    } catch (err) {
      this.log('state-file-error', { error: (err as Error).message });
    }
  }
}

/**
 * Every call of a tick has its own deadline; this is the backstop. A tick stuck past it
 * ends the process (the supervisor restarts it), since a sentinel that no longer ticks
 * only looks alive. Promotion may wait 30 s for the relay log, hence the margin.
 */
const STUCK_TICK_MS = 60_000;

async function withStuckLimit(tick: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StuckTick()), STUCK_TICK_MS);
  });
  try {
    await Promise.race([tick, stuck]);
  } finally {
    clearTimeout(timer);
  }
}

class StuckTick extends Error {
  constructor() {
    super(`a tick ran past ${STUCK_TICK_MS} ms`);
    this.name = 'StuckTick';
  }
}

function defaultLog(host: string): Log {
  return (event, fields = {}) => {
    console.log(JSON.stringify({ at: new Date().toISOString(), host, event, ...fields }));
  };
}
