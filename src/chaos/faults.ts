/**
 * Faults: each one reversible and recorded. The active ones live in
 * `<stateDir>/chaos/active.json`, so that `tandem chaos heal` (another process) can
 * undo them: SIGCONT what was paused, `up()` what was killed for good, links up,
 * partitions and slow links removed.
 *
 * Signals and network commands go through src/hosts/faults.ts (the hosts layer runs
 * processes). Network faults (a host's link cut, partition, slow link) need a link per
 * host, which only netns hosting has: on loopback, kill-host kills processes only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { servicePaths } from '../config/paths.ts';
import type { Plan, PlanHost, PlanService } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { killService, pauseService, resumeProcesses, runNetworkCommand, serviceRunning } from '../hosts/faults.ts';
import type { ProcessRef } from '../hosts/proc.ts';
import { setLink } from '../hosts/netns.ts';
import { sql } from '../orchestrate/database.ts';
import type { Emit } from '../orchestrate/events.ts';
import { up } from '../orchestrate/up.ts';
import {
  isRate,
  type LinkRate,
  nftDeleteCommand,
  nftListCommand,
  nftLoadCommand,
  qdiscDeleteCommand,
  qdiscShowCommand,
  renderPartition,
  tbfCommand,
} from './network.ts';
import { hostsOfGroup, resolveLive, resolveTarget } from './targets.ts';

export type FaultKind = 'kill' | 'kill-host' | 'pause' | 'partition' | 'slow-link';

export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'kill-host', 'pause', 'partition', 'slow-link'];

export interface FaultSpec {
  readonly kind: FaultKind;
  /** A target name (`server-1`, `server-1/app`, `db:primary`…). */
  readonly target: string;
  /** partition: the other side, a comma-separated group (default: everyone else). */
  readonly peer?: string;
  /** slow-link: the link's rate, e.g. `1mbit` (default DEFAULT_SLOW_RATE). */
  readonly rate?: string;
}

/**
 * slow-link's default: 1 Mbit/s each way. The site's pages are 0.5–2.5 KB, so one
 * server's share of the chaos load (~150 requests/s) needs about twice that: a queue
 * forms, responses slow down, nothing needs to fail.
 */
export const DEFAULT_SLOW_RATE = '1mbit';

/** tbf's bucket and queue bound for a rate (burst ≥ rate/HZ; 16 KB is ample up to 100 Mbit). */
export function linkRate(rate: string): LinkRate {
  return { rate, burst: '16kb', latency: '500ms' };
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
  /** The host(s) the target named when it was injected (`lb:active` → `lb-2`). */
  readonly hosts?: readonly string[];
  /** kill-host on netns: hosts whose link was taken down. */
  readonly linksDown?: readonly string[];
  /** partition: the side whose namespaces hold the drop rules, and the addresses dropped. */
  readonly partition?: {
    readonly hosts: readonly string[];
    readonly peers: readonly string[];
    readonly addresses: readonly string[];
  };
  /** slow-link: the throttled host and its rate. */
  readonly slow?: { readonly host: string; readonly rate: LinkRate };
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
  return plan.hosting === 'netns';
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

function hostNamed(plan: Plan, name: string): PlanHost {
  const host = plan.hosts.find((h) => h.name === name);
  if (!host) throw new Error(`no host ${name} in the plan`);
  return host;
}

/** A comma-separated group with `lb:active`/`lb:standby` resolved to host names. */
async function resolveGroup(plan: Plan, group: string): Promise<string> {
  const names = group
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  return (await Promise.all(names.map((n) => resolveLive(plan, n)))).join(',');
}

function faultId(kind: FaultKind, target: string, at: number): string {
  return `${kind}:${target}:${at}:${++sequence}`;
}

/** kill, kill-host, pause: signals to process trees; kill-host of a netns host also cuts its link. */
async function processFault(plan: Plan, spec: FaultSpec, now: () => number): Promise<ActiveFault> {
  const target = resolveTarget(plan, await resolveLive(plan, spec.target));
  const stayDown = spec.kind === 'kill-host';
  if (stayDown && !target.host && target.services.length !== 1) {
    throw new TandemError('TANDEM_USAGE', `kill-host needs a host or one service, not '${spec.target}'`);
  }
  let at: number | undefined;
  // A dead machine drops off the network at once: the link first, then its processes
  // (keepalived killed with -9 leaves the VIP configured in the namespace; with the link
  // down nobody can reach it there).
  const linksDown: string[] = [];
  if (stayDown && target.host && networkFaultsSupported(plan)) {
    await setLink(hostNamed(plan, target.host), false);
    at = now();
    linksDown.push(target.host);
  }
  const processes: (ProcessRef & { service: string })[] = [];
  for (const service of target.services) {
    const paths = servicePaths(service);
    const result = spec.kind === 'pause' ? pauseService(paths) : killService(paths, { withSupervisor: stayDown });
    // The moment the first engine was signalled (finding process trees takes a few ms).
    if (result.processes.length > 0) at ??= result.at;
    processes.push(...result.processes.map((p) => ({ ...p, service: service.id })));
  }
  at ??= now();
  if (processes.length === 0 && linksDown.length === 0) {
    throw new TandemError(
      'TANDEM_STATE',
      `nothing runs for ${spec.target}: no process to ${spec.kind}`,
      'bring the stack up first: tandem up (or tandem chaos heal)',
    );
  }
  return {
    id: faultId(spec.kind, spec.target, at),
    kind: spec.kind,
    target: spec.target,
    at,
    processes,
    stayDown,
    hosts: [...new Set(target.services.map((s) => s.host))],
    ...(linksDown.length > 0 ? { linksDown } : {}),
  };
}

/** Drop rules in the namespaces of one side, against the addresses of the other. */
async function partition(plan: Plan, spec: FaultSpec, now: () => number): Promise<ActiveFault> {
  if (!networkFaultsSupported(plan)) throw unsupportedFault(plan, 'partition');
  const side = hostsOfGroup(plan, await resolveGroup(plan, spec.target));
  const peers = spec.peer
    ? hostsOfGroup(plan, await resolveGroup(plan, spec.peer))
    : plan.hosts.filter((h) => !side.includes(h));
  const both = side.filter((h) => peers.includes(h));
  if (side.length === 0 || peers.length === 0 || both.length > 0) {
    throw new TandemError(
      'TANDEM_USAGE',
      both.length > 0
        ? `${both.map((h) => h.name).join(', ')} cannot be on both sides of a partition`
        : `a partition needs hosts on both sides ('${spec.target}' vs '${spec.peer ?? 'everyone else'}')`,
      'e.g. tandem chaos partition db:primary   or   tandem chaos partition lb-1 server-1,server-2',
    );
  }
  const busy = readActive(plan)
    .filter((f) => f.partition)
    .flatMap((f) => f.partition!.hosts)
    .filter((h) => side.some((s) => s.name === h));
  if (busy.length > 0) {
    throw new TandemError(
      'TANDEM_STATE',
      `${busy.join(', ')} is already partitioned`,
      'heal it first: tandem chaos heal',
    );
  }
  const addresses = peers.map((h) => h.address);
  // "Everyone else" includes the internet (the client); the VIP stands for the LBs.
  if (!spec.peer && plan.client) addresses.push(plan.client.address);
  if (plan.lb.vip && peers.some((h) => h.roles.includes('lb')) && !side.some((h) => h.roles.includes('lb')))
    addresses.push(plan.lb.vip);
  const label = `partition ${side.map((h) => h.name).join(',')} | ${spec.peer ? peers.map((h) => h.name).join(',') : 'everyone else'}`;
  let at: number | undefined;
  for (const host of side) {
    await runNetworkCommand(host, nftLoadCommand(), { input: renderPartition(host.name, addresses, label) });
    at ??= now();
  }
  return {
    id: faultId('partition', spec.target, at!),
    kind: 'partition',
    target: spec.peer ? `${spec.target} | ${spec.peer}` : spec.target,
    at: at!,
    processes: [],
    stayDown: false,
    hosts: side.map((h) => h.name),
    partition: { hosts: side.map((h) => h.name), peers: peers.map((h) => h.name), addresses },
  };
}

/** A token-bucket rate limit on both ends of one host's link. */
async function slowLink(plan: Plan, spec: FaultSpec, now: () => number): Promise<ActiveFault> {
  if (!networkFaultsSupported(plan)) throw unsupportedFault(plan, 'slow-link');
  const hosts = hostsOfGroup(plan, await resolveGroup(plan, spec.target));
  if (hosts.length !== 1) {
    throw new TandemError(
      'TANDEM_USAGE',
      `slow-link needs one host, not '${spec.target}'`,
      'e.g. tandem chaos slow-link server-1 1mbit',
    );
  }
  const host = hosts[0]!;
  const rateText = spec.rate ?? DEFAULT_SLOW_RATE;
  if (!isRate(rateText)) {
    throw new TandemError(
      'TANDEM_USAGE',
      `'${rateText}' is not a link rate`,
      'a number and a unit tc knows: 500kbit, 1mbit, 10mbit. (Delay and loss need tc netem, which this kernel does not have.)',
    );
  }
  const rate = linkRate(rateText);
  await runNetworkCommand(host, tbfCommand(plan.network.hostInterface, rate));
  const at = now();
  await runNetworkCommand(null, tbfCommand(host.link!, rate));
  return {
    id: faultId('slow-link', spec.target, at),
    kind: 'slow-link',
    target: spec.target,
    at,
    processes: [],
    stayDown: false,
    hosts: [host.name],
    slow: { host: host.name, rate },
  };
}

/** Injects one fault now and records it as active. */
export async function inject(plan: Plan, spec: FaultSpec, now: () => number = Date.now): Promise<ActiveFault> {
  const fault =
    spec.kind === 'partition'
      ? await partition(plan, spec, now)
      : spec.kind === 'slow-link'
        ? await slowLink(plan, spec, now)
        : await processFault(plan, spec, now);
  // A plain kill needs no undoing: the supervisor restarts the engine.
  if (fault.kind !== 'kill') writeActive(plan, [...readActive(plan), fault]);
  return fault;
}

/** Removes the chaos table from the host (false: there was none). */
async function removePartition(host: PlanHost): Promise<boolean> {
  return (await runNetworkCommand(host, nftDeleteCommand(), { allowFail: true })).ok;
}

/** Removes the rate limit from both ends of the host's link (false: there was none). */
async function removeSlowLink(plan: Plan, host: PlanHost): Promise<boolean> {
  const inside = await runNetworkCommand(host, qdiscShowCommand(plan.network.hostInterface), { allowFail: true });
  const outside = await runNetworkCommand(null, qdiscShowCommand(host.link!), { allowFail: true });
  let removed = false;
  if (inside.stdout.includes('tbf'))
    removed = (await runNetworkCommand(host, qdiscDeleteCommand(plan.network.hostInterface), { allowFail: true })).ok;
  if (outside.stdout.includes('tbf'))
    removed = (await runNetworkCommand(null, qdiscDeleteCommand(host.link!), { allowFail: true })).ok || removed;
  return removed;
}

/**
 * A host coming back after its death: the VIP its killed keepalived left configured
 * goes first (a rebooted machine holds no address it was not given), then the link.
 */
async function reviveLink(plan: Plan, host: PlanHost): Promise<void> {
  if (host.roles.includes('lb') && plan.lb.vip) {
    await runNetworkCommand(
      host,
      ['/usr/sbin/ip', 'addr', 'del', `${plan.lb.vip}/${plan.network.prefixLength}`, 'dev', plan.network.hostInterface],
      { allowFail: true },
    );
  }
  await setLink(host, true);
}

/** The fault's own undo, without `up()`. Returns what was done. */
async function undo(plan: Plan, fault: ActiveFault): Promise<string> {
  if (fault.kind === 'pause') return `resumed ${resumeProcesses(fault.processes).length} process(es)`;
  if (fault.partition) {
    for (const name of fault.partition.hosts) await removePartition(hostNamed(plan, name));
    return `partition removed from ${fault.partition.hosts.join(', ')}`;
  }
  if (fault.slow) {
    await removeSlowLink(plan, hostNamed(plan, fault.slow.host));
    return `${fault.slow.host}'s link at full speed again`;
  }
  for (const name of fault.linksDown ?? []) await reviveLink(plan, hostNamed(plan, name));
  if (fault.stayDown) return `${fault.linksDown?.length ? 'link up, ' : ''}tandem up brought it back`;
  return 'the supervisor restarts it';
}

/**
 * Undoes one fault quickly, without touching the rest of the stack: SIGCONT for a
 * pause; the drop rules or rate limit removed; link up and `up()` for a kill-host
 * (nothing else would restart it); nothing for a plain kill (the supervisor restarts it).
 */
export async function heal(
  plan: Plan,
  fault: ActiveFault,
  opts: { emit?: Emit; now?: () => number } = {},
): Promise<HealRecord> {
  const now = opts.now ?? Date.now;
  const at = now();
  const detail = await undo(plan, fault);
  if (fault.stayDown) await up(plan, { emit: opts.emit });
  writeActive(
    plan,
    readActive(plan).filter((f) => f.id !== fault.id),
  );
  return { faultId: fault.id, at, doneAt: now(), detail };
}

/**
 * netns: whatever chaos may have left that active.json does not know of (a run killed
 * between injecting and recording): chaos tables and rate limits on every host.
 */
async function sweepNetwork(plan: Plan): Promise<void> {
  if (!networkFaultsSupported(plan)) return;
  for (const host of plan.hosts) {
    if (!host.namespace) continue;
    // Skip a namespace that is not there (the stack is down): nothing to sweep.
    const listed = await runNetworkCommand(host, nftListCommand(), { allowFail: true });
    if (listed.ok) await removePartition(host);
    await removeSlowLink(plan, host);
  }
}

/** How long a database may leave `SELECT 1` on its own socket unanswered before it counts as hung. */
const HUNG_AFTER_MS = 4000;

/**
 * Databases whose engine runs but answers nothing on its own socket, watched for
 * `watchMs` (at least one probe each). Found with MariaDB 10.11.18: after a partition
 * between a semi-sync primary and its replica heals, the replica reconnects, the new
 * dump thread waits for the ack receiver to drop the old one (`kill_zombie_dump_threads`
 * → `Ack_receiver::remove_slave`) while the ack receiver sits in poll() with no timeout:
 * the primary accepts no connection and answers no query, for good. Nothing but a
 * restart brings it back, and `up()` would only wait for readiness and give up.
 */
async function hungDatabases(plan: Plan, watchMs: number): Promise<PlanService[]> {
  const dbs = plan.services.filter((s) => s.kind === 'mariadb' && serviceRunning(servicePaths(s)));
  const hung = new Set<PlanService>();
  const deadline = Date.now() + watchMs;
  do {
    await Promise.all(
      dbs
        .filter((s) => !hung.has(s))
        .map(async (s) => {
          const ok = await sql(servicePaths(s), 'SELECT 1', HUNG_AFTER_MS)
            .then(() => true)
            .catch((err: Error) => !/killed by SIGTERM|timed out/i.test(err.message));
          if (!ok) hung.add(s);
        }),
    );
    if (Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  } while (Date.now() < deadline && hung.size < dbs.length);
  return [...hung];
}

/**
 * Heals every recorded fault (also ones injected by another process), then runs
 * `up()` so that the whole stack is back in its declared state (links up, every
 * service running) and the LB sees every server. A database left hung by the fault
 * (see `hungDatabases`) is killed so that its supervisor restarts it, and the heal
 * says so: that is a finding, not part of the undo.
 */
export async function healAll(plan: Plan, opts: { emit?: Emit; now?: () => number } = {}): Promise<HealRecord[]> {
  const now = opts.now ?? Date.now;
  const undone: { fault: ActiveFault; at: number; detail: string }[] = [];
  const active = readActive(plan);
  for (const fault of active) {
    const at = now();
    undone.push({ fault, at, detail: await undo(plan, fault) });
  }
  await sweepNetwork(plan);
  // After a partition, watch long enough for the replica to reconnect (MASTER_CONNECT_RETRY=1).
  const watchMs = active.some((f) => f.partition) ? 8000 : 0;
  const restarted: HealRecord[] = [];
  for (const service of await hungDatabases(plan, watchMs)) {
    const at = now();
    killService(servicePaths(service), { withSupervisor: false });
    restarted.push({
      faultId: `hung:${service.id}`,
      at,
      doneAt: now(),
      detail: `${service.id} answered nothing for ${HUNG_AFTER_MS / 1000} s after the faults were undone (hung): killed -9, its supervisor restarts it`,
    });
  }
  await up(plan, { emit: opts.emit });
  writeActive(plan, []);
  const doneAt = now();
  return [...undone.map(({ fault, at, detail }) => ({ faultId: fault.id, at, doneAt, detail })), ...restarted];
}
