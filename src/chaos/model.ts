/**
 * The fault model: what a fault is (kind, target, what it touched), as injected and as
 * healed, and which hosting can carry which kind. Network faults (a host's link cut,
 * partition, slow link) need a link per host, which only netns hosting has: on
 * loopback, kill-host kills processes only.
 */
import type { Plan } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import type { ProcessRef } from '../hosts/proc.ts';
import type { LinkRate } from './network.ts';

export type FaultKind = 'kill' | 'kill-host' | 'pause' | 'partition' | 'slow-link';

export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'kill-host', 'pause', 'partition', 'slow-link'];

export interface FaultSpec {
  readonly kind: FaultKind;
  /** A target name (`server-1`, `server-1/app`, `db:primary`…). */
  readonly target: string;
  /** partition: the other side, a comma-separated group (default: everyone else). */
  readonly peer?: string;
  /** partition: only TCP to or from these ports is cut (default: everything). */
  readonly ports?: readonly number[];
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
    /** Only TCP to or from these ports (absent: everything). */
    readonly ports?: readonly number[];
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
