/** Types of liveness.mjs (plain JavaScript, imported by the supervisor). */
import type { LivenessProbe } from '../engines/types.ts';

/** What one probe run came to. */
export interface ProbeOutcome {
  readonly code: number | null;
  readonly signal: string | null;
  /** It overran `timeoutMs` and was killed. */
  readonly timedOut: boolean;
  /** It could not be started at all (e.g. ENOENT). */
  readonly spawnError?: string;
  /** The end of its stdout and stderr. */
  readonly output?: string;
}

/** The watch of one engine process. */
export interface Watch {
  /** It passed a probe since it started: from then on every failure counts. */
  readonly answered: boolean;
  /** Reasons of the failures counted in a row. */
  readonly failures: readonly string[];
}

export function newWatch(): Watch;
export function nextProbeDelay(liveness: LivenessProbe, lastTookMs: number): number;
export function describeProbeFailure(liveness: LivenessProbe, outcome: ProbeOutcome): string;
export function probePassed(outcome: ProbeOutcome): boolean;
export function afterProbe(
  liveness: LivenessProbe,
  watch: Watch,
  outcome: ProbeOutcome,
  upForMs: number,
): { readonly watch: Watch; readonly restart: string | null; readonly ignored: boolean };
