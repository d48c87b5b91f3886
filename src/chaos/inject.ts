/**
 * Injecting faults: signals to process trees (kill, kill-host, pause), a host's link cut,
 * drop rules (partition) and a rate limit (slow link), each recorded as active so that
 * it can be undone. Signals and network commands run through the hosts layer.
 */
import { servicePaths } from '../config/paths.ts';
import type { Plan, PlanHost } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { setLink } from '../hosts/netns.ts';
import { runNetworkCommand } from '../hosts/network-command.ts';
import type { ProcessRef } from '../hosts/proc.ts';
import { killService, pauseService } from '../hosts/signals.ts';
import {
  type ActiveFault,
  DEFAULT_SLOW_RATE,
  type FaultKind,
  type FaultSpec,
  linkRate,
  networkFaultsSupported,
  unsupportedFault,
} from './model.ts';
import { isRate, nftLoadCommand, renderPartition, tbfCommand } from './network.ts';
import { readActive, writeActive } from './store.ts';
import { hostsOfGroup, resolveLive, resolveTarget } from './targets.ts';

let sequence = 0;

export function hostNamed(plan: Plan, name: string): PlanHost {
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
  const ports = spec.ports ?? [];
  const label = `partition ${side.map((h) => h.name).join(',')} | ${spec.peer ? peers.map((h) => h.name).join(',') : 'everyone else'}${ports.length > 0 ? ` (TCP port ${ports.join(', ')})` : ''}`;
  let at: number | undefined;
  for (const host of side) {
    await runNetworkCommand(host, nftLoadCommand(), { input: renderPartition(host.name, addresses, label, ports) });
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
    partition: {
      hosts: side.map((h) => h.name),
      peers: peers.map((h) => h.name),
      addresses,
      ...(ports.length > 0 ? { ports } : {}),
    },
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
