/**
 * Starting, stopping and inspecting supervised services: the only place that
 * launches long-running engine processes. Each service gets its own detached
 * supervisor (src/hosts/supervisor.mjs) that restarts it with backoff.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServicePaths } from '../config/paths.ts';
import type { LivenessProbe } from '../engines/types.ts';
import { TandemError } from '../errors.ts';
import { inNamespace } from './netns.ts';
import { killTree, type ProcessRef, sameProcess } from './proc.ts';

export { isAlive } from './proc.ts';

const SUPERVISOR = fileURLToPath(new URL('./supervisor.mjs', import.meta.url));

export interface SupervisedSpec {
  readonly id: string;
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly stopSignal: NodeJS.Signals;
  readonly reloadSignal?: NodeJS.Signals;
  readonly stopTimeoutMs?: number;
  /** netns: the supervisor (and so the engine) runs inside this network namespace. */
  readonly namespace?: string;
  /** Restart the engine when this probe keeps failing (it runs, but answers nothing). */
  readonly liveness?: LivenessProbe;
  /**
   * Log files the engine writes itself, opened for appending: the supervisor rotates them
   * beside its output, copied and truncated in place (supervisor.mjs).
   */
  readonly logFiles?: readonly string[];
  /**
   * The engine's stdout and stderr go through a pipe to the supervisor, which writes the
   * output file: for an engine that takes append mode off its output descriptor (HAProxy).
   */
  readonly pipeOutput?: boolean;
  /** @default LOG_ROTATION */
  readonly rotate?: LogRotation;
  /**
   * Files that report what the running engine is doing (keepalived's VRRP state, which
   * node_exporter serves): the supervisor removes them before each start and after each
   * exit, so that they never outlive the engine (a keepalived killed with -9 runs no
   * notify script and would go on reporting MASTER).
   */
  readonly stateFiles?: readonly string[];
}

/** When the supervisor rotates a service's logs, and how many rotated files it keeps. */
export interface LogRotation {
  /** A file this large or larger is rotated at the next check. */
  readonly maxBytes: number;
  /** Rotated files kept (`<file>.1` … `<file>.<keep>`). */
  readonly keep: number;
  /** How often the sizes are checked. */
  readonly everyMs: number;
}

/**
 * Each log file stays near 16 MiB plus what is written in a second, in 1 + 3 files:
 * HAProxy logs every request, about 5 MB/s at 20k requests/s.
 */
export const LOG_ROTATION: LogRotation = { maxBytes: 16 * 1024 * 1024, keep: 3, everyMs: 1000 };

/** Restarts the supervisor made because the liveness probe kept failing. */
export interface LivenessRestarts {
  readonly count: number;
  /** Why the last one was made: the failed probes' reasons. */
  readonly lastReason: string;
  readonly lastAt: string;
}

export interface SupervisorState {
  readonly id: string;
  readonly supervisorPid: number;
  /** Start time of the supervisor (clock ticks since boot, /proc/PID/stat field 22). */
  readonly supervisorStartTime: number;
  readonly pid: number | null;
  /** Start time of the engine process `pid`. */
  readonly startTime: number | null;
  readonly state: 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped';
  readonly restarts: number;
  readonly startedAt: string | null;
  readonly lastExit: { code: number | null; signal: string | null; at: string } | null;
  /** Absent until the liveness probe first restarted the engine (also counted in `restarts`). */
  readonly liveness?: LivenessRestarts;
}

/** The state file as the supervisor last wrote it, whether or not it still runs. */
function readStateFile(paths: ServicePaths): SupervisorState | undefined {
  try {
    return JSON.parse(fs.readFileSync(paths.supervisor, 'utf8')) as SupervisorState;
  } catch {
    return undefined;
  }
}

/** The supervisor and the engine as recorded at spawn: PID and start time. */
function supervisorRef(state: SupervisorState): ProcessRef {
  return { pid: state.supervisorPid, startTime: state.supervisorStartTime };
}
function engineRef(state: SupervisorState): ProcessRef | undefined {
  return state.pid && state.startTime !== null ? { pid: state.pid, startTime: state.startTime } : undefined;
}

/**
 * Supervisor state when its supervisor is alive; undefined when nothing runs. "Alive"
 * means the recorded PID still has the recorded start time: a PID from a stale state
 * file (after a reboot, or reused by the kernel) names some other process.
 */
export function readSupervisor(paths: ServicePaths): SupervisorState | undefined {
  const state = readStateFile(paths);
  return state && sameProcess(supervisorRef(state)) ? state : undefined;
}

/** Starts the service's supervisor (detached) and waits until it has spawned the engine. */
export async function startSupervised(paths: ServicePaths, spec: SupervisedSpec): Promise<SupervisorState> {
  fs.mkdirSync(paths.dir, { recursive: true });
  const specFile = path.join(paths.dir, 'supervise.json');
  fs.writeFileSync(
    specFile,
    JSON.stringify({
      ...spec,
      output: paths.output,
      pidFile: paths.pid,
      stateFile: paths.supervisor,
      stopTimeoutMs: spec.stopTimeoutMs ?? 20_000,
      restartDelayMs: 200,
      restartMaxDelayMs: 10_000,
      rotate: spec.rotate ?? LOG_ROTATION,
    }),
    { mode: 0o600 },
  );
  fs.rmSync(paths.supervisor, { force: true });
  // `ip netns exec` execs (no fork): the PID we get is the supervisor's.
  const argv = inNamespace({ namespace: spec.namespace }, [process.execPath, SUPERVISOR, specFile]);
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: 'ignore' });
  child.unref();
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const state = readSupervisor(paths);
    if (state && state.state !== 'starting') return state;
    await sleep(20);
  }
  throw new TandemError(
    'TANDEM_NOT_READY',
    `the supervisor of ${spec.id} did not start within 5 s`,
    `see ${paths.output}`,
  );
}

/** Stops the service (its supervisor stops the engine gracefully) and waits for both to exit. */
export async function stopSupervised(paths: ServicePaths, timeoutMs = 30_000): Promise<boolean> {
  const state = readSupervisor(paths);
  if (!state) return false;
  process.kill(state.supervisorPid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (![supervisorRef(state), engineRef(state)].some((ref) => ref && sameProcess(ref))) return true;
    await sleep(25);
  }
  // Whole trees: nginx's workers outlive a master killed alone.
  for (const ref of [supervisorRef(state), engineRef(state)]) if (ref) killTree(ref);
  return true;
}

export function reloadSupervised(paths: ServicePaths): boolean {
  const state = readSupervisor(paths);
  if (!state) return false;
  process.kill(state.supervisorPid, 'SIGHUP');
  return true;
}

/**
 * An engine left running without its supervisor (the supervisor was killed): kill its
 * whole tree by the PID and start time its supervisor recorded at spawn. A pid file
 * alone (ours or the engine's own) is never trusted: after a reboot it may name anyone.
 */
export function reapOrphan(paths: ServicePaths): number | undefined {
  const state = readStateFile(paths);
  const ref = state && engineRef(state);
  if (!ref || killTree(ref).length === 0) return undefined;
  fs.rmSync(paths.pid, { force: true });
  return ref.pid;
}

/** The engine's PID when its recorded PID and start time still name it (running or orphaned). */
export function enginePidOf(paths: ServicePaths): number | undefined {
  const state = readStateFile(paths);
  const ref = state && engineRef(state);
  return ref && sameProcess(ref) ? ref.pid : undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
