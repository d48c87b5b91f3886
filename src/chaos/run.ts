/**
 * Runs one scenario on a running stack: samplers and load start, the fault lands at
 * its time (and is healed at its time, or after the load), everything is healed with
 * `up()`, the final database state is read from every database node, and the checker judges
 * the history against the scenario's promise.
 */
import type { Plan } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import type { Emit } from '../orchestrate/events.ts';
import { backendStates, vipHolder } from '../orchestrate/lb.ts';
import { type CheckResult, check } from './checker.ts';
import { heal, healAll } from './heal.ts';
import { livenessRestartCounts, restartedAsHung } from './hung.ts';
import { inject } from './inject.ts';
import { type ActiveFault, networkFaultsSupported, unsupportedFault } from './model.ts';
import { chaosDir, readActive } from './store.ts';
import type { FaultEvent, HealEvent, History } from './history.ts';
import { writeHistory } from './history.ts';
import { writeChaosHtml } from './report-html.ts';
import { readFinalState } from './final-state.ts';
import { startSampling } from './samplers.ts';
import { registeredSwitchover, type SwitchoverAction } from './actions.ts';
import { failoverEnabled, type Round, roundsOf, type Scenario, scenarioFor } from './scenarios.ts';
import { sentinelNotes } from './db-roles.ts';
import { DEFAULT_LATENCY_BOUND_MS } from './verdicts.ts';
import { entryOf, runWorkload } from './workload.ts';

export type Verdict = 'kept' | 'broken' | 'unsupported';

export interface ScenarioReport {
  readonly scenario: string;
  readonly description: string;
  readonly promise: string;
  readonly verdict: Verdict;
  readonly reason: string;
  /** Why this stack cannot keep the promise yet (an expected failure), if it cannot. */
  readonly knownGap?: string;
  readonly figures: Readonly<Record<string, number | string | null>>;
  readonly check?: CheckResult;
  readonly faults: readonly FaultEvent[];
  readonly heals: readonly HealEvent[];
  readonly historyFile?: string;
  /** The HTML report beside the history: latency of every request, faults, verdicts (report-html.ts). */
  readonly htmlReport?: string;
  readonly durationMs: number;
  /** Set when `tandem chaos heal` (up) could not bring the stack back after the run. */
  readonly healError?: string;
  /** Services found hung after the faults were undone, killed so their supervisors restarted them. */
  readonly restartedHung?: readonly string[];
}

export interface RunOptions {
  readonly emit?: Emit;
  /** Progress lines ("fault: kill server-1/app"). */
  readonly log?: (line: string) => void;
  /** Overrides the scenario's load duration (ms). */
  readonly durationMs?: number;
  /** The switchover a scenario's `switchover` action runs (default: the one registered with `registerSwitchover`). */
  readonly switchover?: SwitchoverAction;
}

/** One line: what the fault did (`kill-host lb:active (lb-1): link down, pids 1 2 3`). */
export function describeFault(fault: ActiveFault): string {
  const resolved = fault.hosts?.length && fault.hosts.join(',') !== fault.target ? ` (${fault.hosts.join(', ')})` : '';
  const parts: string[] = [];
  if (fault.linksDown?.length) parts.push(`link down`);
  if (fault.processes.length > 0) parts.push(`pids ${fault.processes.map((p) => p.pid).join(' ')}`);
  if (fault.partition)
    parts.push(
      `drops ${fault.partition.ports ? `TCP port ${fault.partition.ports.join(', ')} ` : ''}to/from ${fault.partition.addresses.join(' ')} on ${fault.partition.hosts.join(', ')}`,
    );
  if (fault.slow) parts.push(`link limited to ${fault.slow.rate.rate} each way`);
  return `${fault.kind} ${fault.target}${resolved}: ${parts.join(', ')}`;
}

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

/** Refuses to start on a stack with faults still active or servers not all UP. */
async function preflight(plan: Plan): Promise<void> {
  const active = readActive(plan);
  if (active.length > 0) {
    throw new TandemError(
      'TANDEM_STATE',
      `${active.length} fault(s) still active (${active.map((f) => `${f.kind} ${f.target}`).join(', ')})`,
      'run `tandem chaos heal` first',
    );
  }
  const states = await backendStates(plan).catch(() => []);
  const up = states.filter((s) => s.status.startsWith('UP') && s.check === 'L7OK');
  const wanted = plan.lb.backends.length * plan.services.filter((s) => s.kind === 'haproxy').length;
  if (up.length !== wanted) {
    throw new TandemError(
      'TANDEM_NOT_READY',
      `the load balancer sees ${up.length} of ${wanted} servers UP: a chaos run needs the whole stack healthy`,
      'run `tandem up` (or `tandem chaos heal`) and try again',
    );
  }
  if (plan.lb.vip && !(await vipHolder(plan))) {
    throw new TandemError(
      'TANDEM_NOT_READY',
      `no load balancer holds the floating IP ${plan.lb.vip}: a chaos run needs the whole stack healthy`,
      'run `tandem up` (or `tandem chaos heal`) and try again',
    );
  }
}

function unsupportedReport(scenario: Scenario, reason: string): ScenarioReport {
  return {
    scenario: scenario.name,
    description: scenario.description,
    promise: scenario.promise,
    verdict: 'unsupported',
    reason,
    figures: {},
    faults: [],
    heals: [],
    durationMs: 0,
  };
}

/** Why this stack cannot run the scenario, or undefined. */
function whyUnsupported(plan: Plan, scenario: Scenario, switchover: SwitchoverAction | undefined): string | undefined {
  if (scenario.needsNetwork && !networkFaultsSupported(plan))
    return unsupportedFault(plan, scenario.faults(plan)[0]?.kind ?? 'partition').message;
  const own = scenario.unsupported?.(plan);
  if (own) return own;
  if (roundsOf(scenario).some((r) => r.action === 'switchover') && !switchover)
    return `${scenario.name} needs \`tandem switchover\`, which is not connected to chaos in this build (registerSwitchover)`;
  return undefined;
}

const eventOf = (fault: ActiveFault): FaultEvent => ({
  id: fault.id,
  kind: fault.kind,
  target: fault.target,
  at: fault.at,
  pids: fault.processes.map((p) => p.pid),
  ...(fault.hosts ? { hosts: fault.hosts } : {}),
  detail: describeFault(fault),
});

/** A switchover as the scenario's event: when it started, the primary it left, what it did. */
async function runSwitchover(plan: Plan, switchover: SwitchoverAction): Promise<FaultEvent> {
  const at = Date.now();
  const base = { id: `switchover:db:primary:${at}`, kind: 'switchover', target: 'db:primary', at, pids: [] };
  try {
    const r = await switchover(plan, {});
    return { ...base, hosts: [r.from], detail: `switchover ${r.from} → ${r.to}${r.detail ? `: ${r.detail}` : ''}` };
  } catch (err) {
    return { ...base, detail: `switchover failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** The rounds as steps in time order: each round's injection and heal; at the same moment, heals first. */
export function timelineOf(rounds: readonly Round[]): { at: number; heal: boolean; i: number }[] {
  return rounds
    .flatMap((round, i) => [
      { at: round.atMs, heal: false, i },
      ...(round.healAtMs === null ? [] : [{ at: round.healAtMs, heal: true, i }]),
    ])
    .sort((a, b) => a.at - b.at || Number(b.heal) - Number(a.heal));
}

/**
 * Runs the scenario's timeline: each round's faults (or action) at its time, each
 * round healed at its own heal time (a heal before a fault due at the same moment).
 * Faults with no heal time stay active (healed after the load).
 */
async function runTimeline(
  plan: Plan,
  rounds: readonly Round[],
  startedAt: number,
  ctx: { emit?: Emit; log: (line: string) => void; switchover?: SwitchoverAction },
  out: { faults: FaultEvent[]; heals: HealEvent[] },
): Promise<void> {
  const steps = timelineOf(rounds);
  const active = new Map<number, ActiveFault[]>();
  for (const step of steps) {
    await sleepUntil(startedAt + step.at);
    const round = rounds[step.i]!;
    if (step.heal) {
      for (const fault of active.get(step.i) ?? []) {
        const h = await heal(plan, fault, { emit: ctx.emit });
        out.heals.push(h);
        ctx.log(`  +${h.at - startedAt} ms  healed ${fault.kind} ${fault.target}: ${h.detail}`);
      }
      active.delete(step.i);
      continue;
    }
    if (round.action === 'switchover' && ctx.switchover) {
      const event = await runSwitchover(plan, ctx.switchover);
      out.faults.push(event);
      ctx.log(`  +${event.at - startedAt} ms  ${event.detail}`);
    }
    for (const spec of round.faults(plan)) {
      const fault = await inject(plan, spec);
      active.set(step.i, [...(active.get(step.i) ?? []), fault]);
      out.faults.push(eventOf(fault));
      ctx.log(`  +${fault.at - startedAt} ms  ${describeFault(fault)}`);
    }
  }
}

export async function runScenario(plan: Plan, named: Scenario, opts: RunOptions = {}): Promise<ScenarioReport> {
  const log = opts.log ?? (() => {});
  const scenario = scenarioFor(named, plan);
  const switchover = opts.switchover ?? registeredSwitchover();
  const unsupported = whyUnsupported(plan, scenario, switchover);
  if (unsupported) return unsupportedReport(scenario, unsupported);
  await preflight(plan);
  const durationMs = opts.durationMs ?? scenario.durationMs;
  const runId = `c${Date.now().toString(36)}`;
  const hungBefore = livenessRestartCounts(plan);
  const sampling = startSampling(plan);
  const abort = new AbortController();
  const entry = entryOf(plan);
  let loadStarted: (at: number) => void = () => {};
  const started = new Promise<number>((resolve) => (loadStarted = resolve));
  const latencyBoundMs = scenario.latencyBoundMs ?? DEFAULT_LATENCY_BOUND_MS;
  log(
    `${scenario.name}: load for ${durationMs / 1000} s through ${entry.url} (Host: ${entry.host}${plan.client ? `, from ${plan.client.namespace}` : ''}; run ${runId})`,
  );
  const load = runWorkload(plan, {
    runId,
    concurrency: 8,
    durationMs,
    maxOps: 50_000,
    ratePerSec: scenario.ratePerSec ?? 300,
    timeoutMs: 10_000,
    latencyBoundMs,
    retryWrites: true,
    signal: abort.signal,
    onStart: (at) => loadStarted(at),
  });
  // The timeline counts from when the load starts sending (see WorkloadOptions.onStart).
  const startedAt = await Promise.race([
    started,
    load.then(
      () => Date.now(),
      () => Date.now(),
    ),
  ]);
  const faults: FaultEvent[] = [];
  const heals: HealEvent[] = [];
  let ops: Awaited<typeof load>;
  try {
    await runTimeline(
      plan,
      roundsOf(scenario),
      startedAt,
      { emit: opts.emit, log, ...(switchover ? { switchover } : {}) },
      { faults, heals },
    );
    ops = await load;
  } catch (err) {
    // Stop the load, then put the stack back before reporting the error.
    abort.abort();
    await load.catch(() => {});
    await sampling.stop();
    await healAll(plan, { emit: opts.emit }).catch(() => {});
    throw err;
  }
  await sampling.stop();
  const endedAt = Date.now();
  // Before the heal: while the fault lasts, a sentinel that would not promote says why.
  const notes = failoverEnabled(plan) ? sentinelNotes(plan) : [];
  // Healed during the load (the scenario's heal time), as opposed to after it.
  const healAt = heals[0]?.at;
  // Whatever is still broken comes back now: `up()` restores the declared state.
  const healStart = Date.now();
  // A stack that does not come back is a finding, reported like any other.
  let healError: string | undefined;
  const hung: string[] = [];
  try {
    const healed = await healAll(plan, { emit: opts.emit });
    for (const h of healed) heals.push(h);
    for (const h of healed.filter((x) => x.faultId.startsWith('hung:'))) {
      hung.push(h.faultId.slice('hung:'.length));
      log(`  +${h.at - startedAt} ms  ${h.detail}`);
    }
    for (const id of restartedAsHung(plan, hungBefore).filter((id) => !hung.includes(id))) {
      hung.push(id);
      log(`  ${id} hung during the run: its supervisor restarted it (liveness probe)`);
    }
    log(`  +${Date.now() - startedAt} ms  stack healed (tandem up, ${Date.now() - healStart} ms)`);
  } catch (err) {
    healError = (err as Error).message;
    log(`  +${Date.now() - startedAt} ms  the stack did NOT come back: ${healError}`);
  }
  const final = await readFinalState(plan, runId);
  const history: History = {
    scenario: scenario.name,
    runId,
    startedAt,
    endedAt,
    ops,
    faults,
    heals,
    dbSamples: sampling.dbSamples,
    lbSamples: sampling.lbSamples,
    ...(plan.lb.vip ? { vipSamples: sampling.vipSamples } : {}),
    dbHosts: sampling.dbHosts,
    latencyBoundMs,
    final,
    ...(notes.length > 0 ? { sentinelNotes: notes } : {}),
  };
  const result = check(history);
  const faultAt = faults[0]?.at ?? startedAt;
  const judged = scenario.judge({ check: result, history, faultAt, plan, ...(healAt ? { healAt } : {}) });
  // A stack that needs more than the fault's undo to come back did not survive it.
  const verdict = healError
    ? {
        ...judged,
        kept: false,
        reason: `the stack did not come back after healing (${healError.split('\n')[0]}); ${judged.reason}`,
      }
    : hung.length > 0
      ? {
          ...judged,
          kept: false,
          reason: `${hung.join(', ')} hung after the fault was undone and had to be killed and restarted; ${judged.reason}`,
        }
      : judged;
  const knownGap = scenario.knownGap?.(plan);
  const report: ScenarioReport = {
    scenario: scenario.name,
    description: scenario.description,
    promise: scenario.promise,
    verdict: verdict.kept ? 'kept' : 'broken',
    reason: verdict.reason,
    ...(knownGap ? { knownGap } : {}),
    figures: verdict.figures,
    check: result,
    faults,
    heals,
    durationMs: endedAt - startedAt,
    ...(healError ? { healError } : {}),
    ...(hung.length > 0 ? { restartedHung: hung } : {}),
  };
  const historyFile = writeHistory(chaosDir(plan), history, {
    verdict: report.verdict,
    reason: report.reason,
    figures: report.figures,
    check: result,
  });
  const recorded = { ...report, historyFile };
  return { ...recorded, htmlReport: writeChaosHtml(historyFile, recorded, history) };
}
