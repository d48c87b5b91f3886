/**
 * Named scenarios: the fault(s), when they happen, and the promise the stack makes
 * about them. Every promise also includes the safety properties that must hold under
 * any fault: no acknowledged write lost, none duplicated, no read-your-writes
 * violation, never two writable databases.
 */
import type { Plan, Role } from '../config/types.ts';
import type { ActionKind } from './actions.ts';
import { isFailure, latencies } from './checker.ts';
import { writeOutage } from './db-figures.ts';
import {
  flapVerdict,
  KILL_DB_PRIMARY_BOUND_MS,
  LEASE_FAILOVER_BOUND_MS,
  noStalePromotionVerdict,
  SWITCHOVER_PAUSE_MS,
  switchoverVerdict,
  writesResumeVerdict,
} from './db-verdicts.ts';
import { DEFAULT_SLOW_RATE, type FaultSpec } from './model.ts';
import { etcdServices } from './targets.ts';
import {
  failoverVerdict,
  KILL_LB_WINDOW_MS,
  MARK_DOWN_WITHIN_MS,
  markDownVerdict,
  type PromiseInput,
  type Verdict,
  zeroFailed,
} from './verdicts.ts';

/**
 * One step of a scenario's timeline: faults (or an action) at `atMs`, healed at
 * `healAtMs` (null: after the load). Targets are resolved when the step runs, so a
 * repeated `db:primary` hits the primary of that moment.
 */
export interface Round {
  /** ms after the load starts. */
  readonly atMs: number;
  readonly healAtMs: number | null;
  readonly faults: (plan: Plan) => FaultSpec[];
  /** Instead of (or beside) the faults: an action such as a planned switchover. */
  readonly action?: ActionKind;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly promise: string;
  /** The faults, resolved against the plan (a scenario names roles, not fixed hosts). */
  readonly faults: (plan: Plan) => FaultSpec[];
  /** ms after the load starts. */
  readonly faultAtMs: number;
  /** ms after the load starts; null: healed only after the load ended. */
  readonly healAtMs: number | null;
  readonly durationMs: number;
  /** Operations started per second (all workers). */
  readonly ratePerSec?: number;
  /**
   * A request answered later than this (ms) counts as failed: the user was stalled.
   * Default DEFAULT_LATENCY_BOUND_MS.
   */
  readonly latencyBoundMs?: number;
  /** Needs per-host links (netns hosting). */
  readonly needsNetwork?: boolean;
  /** Why this stack cannot run the scenario at all (reported unsupported), if it cannot. */
  readonly unsupported?: (plan: Plan) => string | undefined;
  /** Several steps (faults and actions at their own times); default: `faults` at `faultAtMs`. */
  readonly rounds?: readonly Round[];
  /** Why the current stack cannot keep it, when it cannot (expected to fail). */
  readonly knownGap?: (plan: Plan) => string | undefined;
  readonly judge: (input: PromiseInput) => Verdict;
  /**
   * What changes on netns hosting, where hosts have links and the LBs a floating IP
   * (e.g. kill-lb kills the active LB's whole host there, its HAProxy on loopback).
   */
  readonly onNetns?: Partial<Omit<Scenario, 'name' | 'onNetns'>>;
}

/** The scenario as it runs on this plan's hosting. */
export function scenarioFor(scenario: Scenario, plan: Plan): Scenario {
  return plan.hosting === 'netns' && scenario.onNetns ? { ...scenario, ...scenario.onNetns } : scenario;
}

/** The scenario's timeline: its rounds, or its faults at `faultAtMs` healed at `healAtMs`. */
export function roundsOf(scenario: Scenario): readonly Round[] {
  return scenario.rounds ?? [{ atMs: scenario.faultAtMs, healAtMs: scenario.healAtMs, faults: scenario.faults }];
}

/** Whether the stack fails its database over (`plan.db.failover`; absent: no). */
export function failoverEnabled(plan: Plan): boolean {
  return (plan.db as { readonly failover?: boolean }).failover === true;
}

const NO_FAILOVER = (plan: Plan) =>
  failoverEnabled(plan)
    ? undefined
    : 'no database failover on this stack (plan.db.failover is off): writes wait for the primary to come back';

/** A scenario that only means something where a replica can be promoted. */
const NEEDS_FAILOVER = (name: string) => (plan: Plan) =>
  failoverEnabled(plan)
    ? undefined
    : `${name} needs database failover, which this stack does not have (plan.db.failover is off)`;

function firstHost(plan: Plan, role: Role, avoid?: string): string {
  const hosts = plan.hosts.filter((h) => h.roles.includes(role));
  const pick = hosts.find((h) => h.name !== avoid) ?? hosts[0];
  if (!pick) throw new Error(`the stack has no ${role} host`);
  return pick.name;
}

/** A host whose death the stack must survive: a web server that is not the db primary. */
const serverToKill = (plan: Plan) => firstHost(plan, 'web', plan.db.primary);

const SINGLE_LB = (plan: Plan) =>
  plan.services.filter((s) => s.kind === 'haproxy').length < 2
    ? `one load balancer and no virtual IP on ${plan.hosting} hosting: nothing takes over while HAProxy restarts`
    : undefined;

/**
 * pause-app: how long a user may wait while one app is frozen for 3 s (a frozen app must
 * not stall users for as long as it stays frozen).
 */
export const PAUSE_APP_BOUND_MS = 2000;

/** slow-link: how long a request may take while one server's link is limited (measured max 369 ms). */
export const SLOW_LINK_BOUND_MS = 750;

/** partition-db-primary: how long the primary stays cut off (well past its lease and the 2.5 s promise). */
const PARTITION_MS = 12_000;

/**
 * flap: five failovers, one every FLAP_EVERY_MS, each healed FLAP_HEAL_MS after its fault
 * (the killed node's supervisor starts it again; it has the rest of the round to rejoin
 * and become the sync replica, which the next failover needs).
 */
export const FLAP_ROUNDS = 5;
const FLAP_EVERY_MS = 11_000;
const FLAP_HEAL_MS = 2_000;

/** kill-db-replica-then-primary: the replica is out from 2 s; the primary dies at 5 s, the replica returns just after. */
const REPLICA_OUT_AT_MS = 2000;
const PRIMARY_DIES_AT_MS = 5000;

const killDbPrimary = (): FaultSpec[] => [{ kind: 'kill-host', target: 'db:primary' }];

/** partition-etcd-member: how long the member stays cut off (many times its election timeout). */
const ETCD_CUT_MS = 6000;

const NEEDS_ETCD = (name: string) => (plan: Plan) =>
  etcdServices(plan).length === 0 ? `${name} needs etcd, which this stack does not run` : undefined;

/**
 * An etcd member's death or isolation: 0 failed requests (none slower than the latency
 * bound), and the longest wait between two acknowledged writes after the fault reported.
 */
const writesUnaffected = (input: PromiseInput): Verdict =>
  zeroFailed(input, {
    longestWriteGapMs: writeOutage(input.history.ops, input.faultAt, input.history.endedAt).longestGapMs,
  });

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'kill-app',
    description: 'kill -9 one app process under load; its supervisor restarts it',
    promise: '0 failed requests',
    faults: (plan) => [{ kind: 'kill', target: `${firstHost(plan, 'app', plan.db.primary)}/app` }],
    faultAtMs: 2000,
    healAtMs: null,
    durationMs: 8000,
    judge: (input) => zeroFailed(input),
  },
  {
    name: 'kill-web',
    description: 'kill -9 one nginx (master and workers) under load; its supervisor restarts it',
    promise: '0 failed requests',
    faults: (plan) => [{ kind: 'kill', target: `${firstHost(plan, 'web', plan.db.primary)}/nginx` }],
    faultAtMs: 2000,
    healAtMs: null,
    durationMs: 8000,
    judge: (input) => zeroFailed(input),
  },
  {
    name: 'kill-server',
    description: 'a whole server dies (every engine and its supervisor); back only after the load',
    promise: `marked down within ${MARK_DOWN_WITHIN_MS / 1000} s; before that at most the dead server's share of requests fail, none after`,
    faults: (plan) => [{ kind: 'kill-host', target: serverToKill(plan) }],
    faultAtMs: 2000,
    healAtMs: null,
    durationMs: 8000,
    judge: (input) => markDownVerdict(input, serverToKill(input.plan)),
  },
  {
    name: 'kill-lb',
    description: 'kill -9 the load balancer (HAProxy master and worker); its supervisor restarts it',
    promise: '0 failed requests (the standby load balancer takes over the virtual IP)',
    faults: (plan) => [{ kind: 'kill', target: `${firstHost(plan, 'lb')}/haproxy` }],
    faultAtMs: 2000,
    healAtMs: null,
    durationMs: 8000,
    knownGap: SINGLE_LB,
    judge: (input) => zeroFailed(input),
    onNetns: {
      description:
        'the active load balancer’s host dies (engines and supervisors killed, link down); back only after the load',
      promise: `requests fail for at most ${KILL_LB_WINDOW_MS / 1000} s after the fault, none after (the standby LB takes over the VIP)`,
      faults: () => [{ kind: 'kill-host', target: 'lb:active' }],
      knownGap: SINGLE_LB,
      judge: (input) => failoverVerdict(input, KILL_LB_WINDOW_MS),
    },
  },
  {
    name: 'pause-app',
    description: 'SIGSTOP one app process for 3 s under load, then SIGCONT',
    promise: `0 failed requests, none slower than ${PAUSE_APP_BOUND_MS / 1000} s (new requests go elsewhere)`,
    faults: (plan) => [{ kind: 'pause', target: `${firstHost(plan, 'app', plan.db.primary)}/app` }],
    faultAtMs: 2000,
    healAtMs: 5000,
    durationMs: 9000,
    latencyBoundMs: PAUSE_APP_BOUND_MS,
    judge: (input) => zeroFailed(input),
  },
  {
    name: 'kill-db-replica',
    description: 'the replica database dies (engine and supervisor); back only after the load',
    promise: '0 failed requests; reads keep working',
    faults: () => [{ kind: 'kill-host', target: 'db:replica' }],
    faultAtMs: 2000,
    healAtMs: null,
    durationMs: 8000,
    judge: (input) => {
      const readsAfter = input.history.ops.filter(
        (o) => (o.kind === 'page' || o.kind === 'api') && o.start > input.faultAt && !isFailure(o),
      ).length;
      const v = zeroFailed(input, { readsOkAfterFault: readsAfter });
      if (v.kept && readsAfter === 0) return { ...v, kept: false, reason: 'no read succeeded after the fault' };
      return v;
    },
  },
  {
    name: 'kill-db-primary',
    description:
      'the primary database’s engine and its supervisor are killed (kill -9); nothing restarts them until after the load',
    promise: `writes resume within ${KILL_DB_PRIMARY_BOUND_MS / 1000} s of the fault; no acknowledged write lost; all databases end the same`,
    faults: killDbPrimary,
    faultAtMs: 2000,
    healAtMs: null,
    durationMs: 10_000,
    ratePerSec: 150,
    knownGap: NO_FAILOVER,
    judge: (input) => writesResumeVerdict(input, KILL_DB_PRIMARY_BOUND_MS),
  },
  {
    name: 'kill-host-db-primary',
    description:
      'the primary database’s whole host dies (every engine and supervisor, its sentinel too; on netns its link goes down); back only after the load',
    promise: `writes resume within ${LEASE_FAILOVER_BOUND_MS / 1000} s of the fault; no acknowledged write lost; all databases end the same`,
    faults: () => [{ kind: 'kill-host', target: 'db:primary-host' }],
    faultAtMs: 2000,
    healAtMs: null,
    durationMs: 10_000,
    ratePerSec: 150,
    unsupported: NEEDS_FAILOVER('kill-host-db-primary'),
    judge: (input) => writesResumeVerdict(input, LEASE_FAILOVER_BOUND_MS),
  },
  {
    name: 'partition-db-primary',
    description: `cut the primary database’s host off from every other host for ${PARTITION_MS / 1000} s, then heal`,
    promise: `writes resume within ${LEASE_FAILOVER_BOUND_MS / 1000} s on the other side; never two writable databases (the cut-off primary is fenced); it rejoins as a replica after the heal; no acknowledged write lost`,
    faults: () => [{ kind: 'partition', target: 'db:primary' }],
    faultAtMs: 2000,
    healAtMs: 2000 + PARTITION_MS,
    durationMs: 2000 + PARTITION_MS + 6000,
    ratePerSec: 150,
    needsNetwork: true,
    knownGap: NO_FAILOVER,
    judge: (input) => writesResumeVerdict(input, LEASE_FAILOVER_BOUND_MS, { rejoin: true }),
  },
  {
    name: 'flap',
    description: `${FLAP_ROUNDS} failovers back and forth: the primary of the moment is killed (engine and supervisor) every ${FLAP_EVERY_MS / 1000} s and healed ${FLAP_HEAL_MS / 1000} s later`,
    promise: `each failover: writes resume within ${KILL_DB_PRIMARY_BOUND_MS / 1000} s; no divergence, no acknowledged write lost; every old primary rejoins`,
    faults: killDbPrimary,
    faultAtMs: 2000,
    healAtMs: 2000 + FLAP_HEAL_MS,
    rounds: Array.from({ length: FLAP_ROUNDS }, (_, i) => ({
      atMs: 2000 + i * FLAP_EVERY_MS,
      healAtMs: 2000 + i * FLAP_EVERY_MS + FLAP_HEAL_MS,
      faults: killDbPrimary,
    })),
    durationMs: 2000 + FLAP_ROUNDS * FLAP_EVERY_MS,
    ratePerSec: 150,
    unsupported: NEEDS_FAILOVER('flap'),
    judge: (input) => flapVerdict(input, KILL_DB_PRIMARY_BOUND_MS, FLAP_ROUNDS),
  },
  {
    name: 'kill-db-replica-then-primary',
    description: `the replica is frozen (SIGSTOP) from ${REPLICA_OUT_AT_MS / 1000} s while the primary writes alone; at ${PRIMARY_DIES_AT_MS / 1000} s the primary dies (engine and supervisor) and the replica comes back, stale`,
    promise:
      'no automatic promotion of the stale replica; 0 acknowledged writes lost; reads keep working; the report says why writes stopped',
    faults: () => [{ kind: 'pause', target: 'db:replica' }, ...killDbPrimary()],
    faultAtMs: REPLICA_OUT_AT_MS,
    healAtMs: null,
    rounds: [
      {
        atMs: REPLICA_OUT_AT_MS,
        healAtMs: PRIMARY_DIES_AT_MS + 100,
        faults: () => [{ kind: 'pause', target: 'db:replica' }],
      },
      { atMs: PRIMARY_DIES_AT_MS, healAtMs: null, faults: killDbPrimary },
    ],
    durationMs: 10_000,
    ratePerSec: 150,
    unsupported: NEEDS_FAILOVER('kill-db-replica-then-primary'),
    judge: (input) => noStalePromotionVerdict(input),
  },
  {
    name: 'kill-etcd-member',
    description:
      'one etcd member (the one beside the primary database) dies, engine and supervisor; back only after the load',
    promise: '0 failed requests: writes unaffected (the other two members keep the quorum)',
    faults: () => [{ kind: 'kill-host', target: 'etcd:member' }],
    faultAtMs: 2000,
    healAtMs: null,
    durationMs: 8000,
    unsupported: NEEDS_ETCD('kill-etcd-member'),
    judge: writesUnaffected,
  },
  {
    name: 'partition-etcd-member',
    description: `the etcd member beside the primary database is cut off from the other members (their peer port) for ${ETCD_CUT_MS / 1000} s, then healed; its host, the database and the sentinel there keep their network`,
    promise: '0 failed requests: writes unaffected (the other two members keep the quorum; the sentinels use them)',
    faults: (plan) => [{ kind: 'partition', target: 'etcd:member', ports: [plan.etcd?.peerPort ?? 2380] }],
    faultAtMs: 2000,
    healAtMs: 2000 + ETCD_CUT_MS,
    durationMs: 2000 + ETCD_CUT_MS + 3000,
    needsNetwork: true,
    unsupported: NEEDS_ETCD('partition-etcd-member'),
    judge: writesUnaffected,
  },
  {
    name: 'switchover-under-load',
    description: 'a planned switchover (tandem switchover) under load: the replica becomes the primary',
    promise: `0 failed requests; writes pause for at most ${SWITCHOVER_PAUSE_MS / 1000} s`,
    faults: () => [],
    faultAtMs: 3000,
    healAtMs: null,
    rounds: [{ atMs: 3000, healAtMs: null, faults: () => [], action: 'switchover' }],
    durationMs: 8000,
    ratePerSec: 150,
    unsupported: NEEDS_FAILOVER('switchover-under-load'),
    judge: (input) => switchoverVerdict(input, SWITCHOVER_PAUSE_MS),
  },
  {
    name: 'slow-link',
    description: `limit one web server’s link to ${DEFAULT_SLOW_RATE} each way (tc tbf) for 4 s under load, then heal`,
    promise: `0 failed requests, none slower than ${SLOW_LINK_BOUND_MS} ms (requests through the slow server take longer)`,
    faults: (plan) => [{ kind: 'slow-link', target: serverToKill(plan) }],
    faultAtMs: 2000,
    healAtMs: 6000,
    durationMs: 8000,
    latencyBoundMs: SLOW_LINK_BOUND_MS,
    needsNetwork: true,
    judge: (input) => {
      const during = latencies(input.history.ops, input.faultAt, input.healAt ?? input.history.endedAt);
      const before = latencies(input.history.ops, input.history.startedAt, input.faultAt);
      return zeroFailed(input, {
        p50BeforeMs: before.p50,
        p50DuringMs: during.p50,
        p99DuringMs: during.p99,
        maxDuringMs: during.max,
      });
    },
  },
];

export function scenarioNamed(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
