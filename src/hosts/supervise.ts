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
import { TandemError } from '../errors.ts';
import { inNamespace } from './netns.ts';
import { isAlive, killTree } from './proc.ts';

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
}

export interface SupervisorState {
  readonly id: string;
  readonly supervisorPid: number;
  readonly pid: number | null;
  readonly state: 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped';
  readonly restarts: number;
  readonly startedAt: string | null;
  readonly lastExit: { code: number | null; signal: string | null; at: string } | null;
}

/** Supervisor state when its supervisor is alive; undefined when nothing runs. */
export function readSupervisor(paths: ServicePaths): SupervisorState | undefined {
  let state: SupervisorState;
  try {
    state = JSON.parse(fs.readFileSync(paths.supervisor, 'utf8')) as SupervisorState;
  } catch {
    return undefined;
  }
  if (!isAlive(state.supervisorPid)) return undefined;
  if (!cmdlineIncludes(state.supervisorPid, paths.dir)) return undefined;
  return state;
}

function cmdlineIncludes(pid: number, text: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
  } catch {
    return false;
  }
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
    if (!isAlive(state.supervisorPid) && !isAlive(state.pid)) return true;
    await sleep(25);
  }
  // Whole trees: nginx's workers outlive a master killed alone.
  for (const pid of [state.supervisorPid, state.pid]) if (isAlive(pid)) killTree(pid);
  return true;
}

export function reloadSupervised(paths: ServicePaths): boolean {
  const state = readSupervisor(paths);
  if (!state) return false;
  process.kill(state.supervisorPid, 'SIGHUP');
  return true;
}

/**
 * An engine left running without its supervisor (the supervisor was killed):
 * kill it by the PID it recorded, after checking the PID is still that engine.
 */
export function reapOrphan(paths: ServicePaths, binaryHint: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(paths.pid, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!isAlive(pid) || !cmdlineIncludes(pid, binaryHint)) return undefined;
  killTree(pid);
  fs.rmSync(paths.pid, { force: true });
  return pid;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
