/**
 * Named scenarios: the fault(s), when they happen, and the promise the stack makes
 * about them. Every promise also includes the safety properties that must hold under
 * any fault: no acknowledged write lost, none duplicated, no read-your-writes
 * violation, never two writable databases.
 */
import type { Plan, Role } from '../config/types.ts';
import { type CheckResult, failedSince, markedDownAt } from './checker.ts';
import type { FaultSpec } from './faults.ts';
import type { History } from './history.ts';

export interface PromiseInput {
  readonly check: CheckResult;
  readonly history: History;
  /** Epoch ms of the first fault. */
  readonly faultAt: number;
  readonly plan: Plan;
}

export interface Verdict {
  readonly kept: boolean;
  /** One line: why kept or broken. */
  readonly reason: string;
  /** Scenario-specific numbers for the report. */
  readonly figures: Readonly<Record<string, number | string | null>>;
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
  /** Needs per-host links (netns hosting). */
  readonly needsNetwork?: boolean;
  /** Why the current stack cannot keep it, when it cannot (expected to fail). */
  readonly knownGap?: (plan: Plan) => string | undefined;
  readonly judge: (input: PromiseInput) => Verdict;
}

/** The safety part of every promise: returns what broke, or undefined. */
export function safetyBreach(check: CheckResult): string | undefined {
  const w = check.writes;
  const broken: string[] = [];
  if (check.finalStateError) broken.push(`final state unreadable (${check.finalStateError})`);
  if (w.lost.length > 0) broken.push(`${w.lost.length} acknowledged write(s) lost`);
  if (w.duplicated.length > 0) broken.push(`${w.duplicated.length} write(s) duplicated`);
  if (check.rywViolations.length > 0) broken.push(`${check.rywViolations.length} read-your-writes violation(s)`);
  if (check.writableOverlaps.length > 0) broken.push('two databases were writable at once');
  return broken.length > 0 ? broken.join('; ') : undefined;
}

function zeroFailed({ check }: PromiseInput, extra: Record<string, number | string | null> = {}): Verdict {
  const breach = safetyBreach(check);
  const reads = check.byKind.page.failed + check.byKind.api.failed + check.byKind['read-own'].failed;
  const figures = { failed: check.failed, failedReads: reads, failedWrites: check.byKind.write.failed, ...extra };
  if (breach) return { kept: false, reason: breach, figures };
  if (check.failed > 0) return { kept: false, reason: `${check.failed} of ${check.ops} requests failed`, figures };
  return { kept: true, reason: `0 of ${check.ops} requests failed`, figures };
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
    promise: 'no failed request after the load balancer marks the server down',
    faults: (plan) => [{ kind: 'kill-host', target: serverToKill(plan) }],
    faultAtMs: 2000,
    healAtMs: null,
    durationMs: 8000,
    judge: (input) => {
      const server = serverToKill(input.plan);
      const downAt = markedDownAt(input.history.lbSamples, server, input.faultAt);
      const breach = safetyBreach(input.check);
      const before =
        downAt === undefined ? input.check.failed : input.check.failed - failedSince(input.history.ops, downAt).length;
      const after = downAt === undefined ? null : failedSince(input.history.ops, downAt).length;
      const figures = {
        failed: input.check.failed,
        failedBeforeMarkedDown: before,
        failedAfterMarkedDown: after,
        markedDownAfterMs: downAt === undefined ? null : downAt - input.faultAt,
      };
      if (downAt === undefined)
        return { kept: false, reason: `the load balancer never marked ${server} down`, figures };
      if (breach) return { kept: false, reason: breach, figures };
      if (after! > 0)
        return { kept: false, reason: `${after} request(s) failed after ${server} was marked down`, figures };
      return {
        kept: true,
        reason: `marked down ${downAt - input.faultAt} ms after the fault; ${before} failed before, 0 after`,
        figures,
      };
    },
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
  },
  {
    name: 'pause-app',
    description: 'SIGSTOP one app process for 3 s under load, then SIGCONT',
    promise: '0 failed requests (requests to the frozen app wait; new ones go elsewhere)',
    faults: (plan) => [{ kind: 'pause', target: `${firstHost(plan, 'app', plan.db.primary)}/app` }],
    faultAtMs: 2000,
    healAtMs: 5000,
    durationMs: 9000,
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
        (o) => (o.kind === 'page' || o.kind === 'api') && o.start > input.faultAt && o.outcome === 'ok',
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
    description: 'cut the primary database host off from every other host, then heal',
    promise: 'never two writable databases; writes resume within 30 s; no acknowledged write lost',
    faults: (plan) => [{ kind: 'partition', target: plan.db.primary }],
    faultAtMs: 2000,
    healAtMs: 20_000,
    durationMs: 35_000,
    needsNetwork: true,
    knownGap: NO_FAILOVER,
    judge: (input) => zeroFailed(input),
  },
  {
    name: 'slow-link',
    description: 'add 200 ms of delay on one server’s link under load, then heal',
    promise: '0 failed requests',
    faults: (plan) => [{ kind: 'slow-link', target: serverToKill(plan), delayMs: 200 }],
    faultAtMs: 2000,
    healAtMs: 6000,
    durationMs: 8000,
    needsNetwork: true,
    judge: (input) => zeroFailed(input),
  },
];

export function scenarioNamed(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
