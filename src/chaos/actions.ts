/**
 * Actions a scenario performs instead of a fault: a planned switchover under load. The
 * command itself lives with the database's failover (`tandem switchover`); it is
 * connected here, once at start-up with `registerSwitchover`, or per run through
 * `RunOptions.switchover`. A scenario that needs an action nobody connected is reported
 * unsupported: it never passes without it.
 */
import type { Plan } from '../config/types.ts';

export type ActionKind = 'switchover';

/** What a switchover did: the primary it left and the one it made. */
export interface SwitchoverResult {
  readonly from: string;
  readonly to: string;
  /** One line for the report (e.g. how long the primary was read-only). */
  readonly detail?: string;
}

/** Moves the primary role to `to` (default: the eligible replica); resolves once the new primary takes writes. */
export type SwitchoverAction = (plan: Plan, opts: { readonly to?: string }) => Promise<SwitchoverResult>;

let switchover: SwitchoverAction | undefined;

/** Connects `tandem switchover` to the chaos scenarios (undefined disconnects it). */
export function registerSwitchover(fn: SwitchoverAction | undefined): void {
  switchover = fn;
}

/** The switchover connected with `registerSwitchover`, if any. */
export function registeredSwitchover(): SwitchoverAction | undefined {
  return switchover;
}
