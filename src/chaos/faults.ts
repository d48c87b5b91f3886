/**
 * Faults: each one reversible and recorded. The active ones live in
 * `<stateDir>/chaos/active.json`, so that `tandem chaos heal` (another process) can
 * undo them: SIGCONT what was paused, `up()` what was killed for good.
 *
 * Signals go through src/hosts/faults.ts (the hosts layer runs processes); network
 * faults (partition, slow link) need a link per host, which only netns hosting has.
 */
import fs from 'node:fs';
import path from 'node:path';
import { servicePaths } from '../config/paths.ts';
import type { Plan } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { killService, type ProcessRef, pauseService, resumeProcesses } from '../hosts/faults.ts';
import type { Emit } from '../orchestrate/events.ts';
import { up } from '../orchestrate/up.ts';
import { resolveTarget } from './targets.ts';

export type FaultKind = 'kill' | 'kill-host' | 'pause' | 'partition' | 'slow-link';

export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'kill-host', 'pause', 'partition', 'slow-link'];

export interface FaultSpec {
  readonly kind: FaultKind;
  /** A target name (`server-1`, `server-1/app`, `db:primary`…). */
  readonly target: string;
  /** partition: the other side (default: every other host). */
  readonly peer?: string;
  /** slow-link: added one-way delay. */
  readonly delayMs?: number;
}

/** A fault as injected: what, when, which processes it touched. */
export interface ActiveFault {
  readonly id: string;
  readonly kind: FaultKind;
  readonly target: string;
  /** Epoch ms. */
  readonly at: number;
  /** Killed or paused processes, per service id. */
  readonly processes: readonly (ProcessRef & { readonly service: string })[];
  /** Nothing restarts the target until `up()` (kill-host). */
  readonly stayDown: boolean;
}

export interface HealRecord {
  readonly faultId: string;
  /** Epoch ms when healing started and when it was done. */
  readonly at: number;
  readonly doneAt: number;
  readonly detail: string;
}

/**
 * Partitions and slow links change one host's network path. On loopback hosting every
 * host is an address on the machine's single `lo` interface: there is no per-host link
 * to cut or delay, and nftables rules on `lo` would also cut tandem's own probes.
 */
export function networkFaultsSupported(plan: Plan): boolean {
  // netns hosting (veth per host, nft + tc netem inside the namespace) slots in here.
  return (plan.hosting as string) === 'netns';
}

export function unsupportedFault(plan: Plan, kind: FaultKind): TandemError {
  return new TandemError(
    'TANDEM_USAGE',
    `${kind} needs netns hosting (a network namespace and link per host); this stack uses ${plan.hosting} hosting, where every host is an address on the one loopback interface, so a link cannot be cut or slowed for one host`,
    `set \`hosting: 'netns'\` in tandem.config.ts (needs root) to run ${kind}`,
  );
}

// ---------------------------------------------------------------- active.json

export function chaosDir(plan: Plan): string {
  return path.join(plan.stateDir, 'chaos');
}

function activeFile(plan: Plan): string {
  return path.join(chaosDir(plan), 'active.json');
}

export function readActive(plan: Plan): ActiveFault[] {
  try {
    return JSON.parse(fs.readFileSync(activeFile(plan), 'utf8')) as ActiveFault[];
  } catch {
    return [];
  }
}

function writeActive(plan: Plan, faults: readonly ActiveFault[]): void {
  fs.mkdirSync(chaosDir(plan), { recursive: true });
  const tmp = `${activeFile(plan)}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(faults, null, 2)}\n`);
  fs.renameSync(tmp, activeFile(plan));
}

// ---------------------------------------------------------------- inject / heal

let sequence = 0;

/** Injects one fault now and records it as active. */
export function inject(plan: Plan, spec: FaultSpec, now: () => number = Date.now): ActiveFault {
  if (spec.kind === 'partition' || spec.kind === 'slow-link') {
    if (!networkFaultsSupported(plan)) throw unsupportedFault(plan, spec.kind);
    throw new TandemError('TANDEM_USAGE', `${spec.kind} is not implemented for ${plan.hosting} hosting yet`);
  }
  const target = resolveTarget(plan, spec.target);
  const stayDown = spec.kind === 'kill-host';
  if (stayDown && !target.host && target.services.length !== 1) {
    throw new TandemError('TANDEM_USAGE', `kill-host needs a host or one service, not '${spec.target}'`);
  }
  let at: number | undefined;
  const processes: (ProcessRef & { service: string })[] = [];
  for (const service of target.services) {
    const paths = servicePaths(service);
    const result = spec.kind === 'pause' ? pauseService(paths) : killService(paths, { withSupervisor: stayDown });
    // The moment the first engine was signalled (finding process trees takes a few ms).
    if (result.processes.length > 0) at ??= result.at;
    processes.push(...result.processes.map((p) => ({ ...p, service: service.id })));
  }
  at ??= now();
  if (processes.length === 0) {
    throw new TandemError(
      'TANDEM_STATE',
      `nothing runs for ${spec.target}: no process to ${spec.kind}`,
      'bring the stack up first: tandem up (or tandem chaos heal)',
    );
  }
  const fault: ActiveFault = {
    id: `${spec.kind}:${spec.target}:${at}:${++sequence}`,
    kind: spec.kind,
    target: spec.target,
    at,
    processes,
    stayDown,
  };
  // A plain kill needs no undoing: the supervisor restarts the engine.
  if (fault.kind !== 'kill') writeActive(plan, [...readActive(plan), fault]);
  return fault;
}

/**
 * Undoes one fault quickly, without touching the rest of the stack: SIGCONT for a
 * pause; `up()` for a kill-host (nothing else would restart it); nothing for a plain
 * kill (the supervisor restarts the engine).
 */
export async function heal(
  plan: Plan,
  fault: ActiveFault,
  opts: { emit?: Emit; now?: () => number } = {},
): Promise<HealRecord> {
  const now = opts.now ?? Date.now;
  const at = now();
  let detail = 'the supervisor restarts it';
  if (fault.kind === 'pause') {
    const resumed = resumeProcesses(fault.processes);
    detail = `resumed ${resumed.length} process(es)`;
  } else if (fault.stayDown) {
    await up(plan, { emit: opts.emit });
    detail = 'tandem up brought it back';
  }
  writeActive(
    plan,
    readActive(plan).filter((f) => f.id !== fault.id),
  );
  return { faultId: fault.id, at, doneAt: now(), detail };
}

/**
 * Heals every recorded fault (also ones injected by another process), then runs
 * `up()` so that the whole stack is back in its declared state and the LB sees
 * every server.
 */
export async function healAll(plan: Plan, opts: { emit?: Emit; now?: () => number } = {}): Promise<HealRecord[]> {
  const now = opts.now ?? Date.now;
  const records: HealRecord[] = [];
  const active = readActive(plan);
  for (const fault of active.filter((f) => f.kind === 'pause')) records.push(await heal(plan, fault, opts));
  const at = now();
  await up(plan, { emit: opts.emit });
  for (const fault of active.filter((f) => f.kind !== 'pause')) {
    records.push({
      faultId: fault.id,
      at,
      doneAt: now(),
      detail: fault.stayDown ? 'tandem up brought it back' : 'restarted',
    });
  }
  writeActive(plan, []);
  return records;
}
