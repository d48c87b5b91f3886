/**
 * Named scenarios: the fault(s), when they happen, and the promise the stack makes
 * about them. Every promise also includes the safety properties that must hold under
 * any fault: no acknowledged write lost, none duplicated, no read-your-writes
 * violation, never two writable databases.
 */
import type { Plan, Role } from '../config/types.ts';
import { isFailure, latencies } from './checker.ts';
import { DEFAULT_SLOW_RATE, type FaultSpec } from './model.ts';
import {
  failoverVerdict,
  KILL_LB_WINDOW_MS,
  MARK_DOWN_WITHIN_MS,
  markDownVerdict,
  partitionVerdict,
  type PromiseInput,
  safetyBreach,
  type Verdict,
  zeroFailed,
} from './verdicts.ts';

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

/** partition-db-primary: how long the primary stays cut off (longer than the 30 s promise). */
const PARTITION_MS = 32_000;

const NO_FAILOVER = () => 'no database failover yet (its own issue): writes wait for the primary to come back';

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
    description: 'the primary database dies (engine and supervisor); back only after the load',
    promise: 'writes resume within 30 s; no acknowledged write lost',
    faults: () => [{ kind: 'kill-host', target: 'db:primary' }],
    faultAtMs: 2000,
    healAtMs: null,
    // Long enough to see whether writes come back within the promised 30 s.
    durationMs: 35_000,
    ratePerSec: 150,
    knownGap: NO_FAILOVER,
    judge: ({ check }) => {
      const breach = safetyBreach(check);
      const figures = {
        failed: check.failed,
        failedWrites: check.byKind.write.failed,
        failedReads: check.byKind.page.failed + check.byKind.api.failed,
        writeRecoveryMs: check.writeRecoveryMs,
      };
      if (breach) return { kept: false, reason: breach, figures };
      if (check.writeRecoveryMs === null)
        return { kept: false, reason: 'writes did not resume before the load ended (30 s after the fault)', figures };
      if (check.writeRecoveryMs > 30_000)
        return { kept: false, reason: `writes resumed only after ${check.writeRecoveryMs} ms`, figures };
      return { kept: true, reason: `writes resumed after ${check.writeRecoveryMs} ms; none lost`, figures };
    },
  },
  {
    name: 'partition-db-primary',
    description: `cut the primary database’s host off from every other host for ${PARTITION_MS / 1000} s, then heal`,
    promise:
      'never two writable databases; writes resume within 30 s while the primary is cut off; no acknowledged write lost',
    faults: () => [{ kind: 'partition', target: 'db:primary' }],
    faultAtMs: 2000,
    healAtMs: 2000 + PARTITION_MS,
    durationMs: 2000 + PARTITION_MS + 6000,
    ratePerSec: 150,
    needsNetwork: true,
    knownGap: NO_FAILOVER,
    judge: (input) => partitionVerdict(input),
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
