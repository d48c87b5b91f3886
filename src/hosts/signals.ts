/**
 * Signals to a service's processes, for `tandem chaos` (kill, kill-host, pause, resume).
 * Finds an engine's whole process tree (nginx and HAProxy run a master and
 * workers: kill -9 of the master alone leaves a worker serving, so a crash means
 * the tree), and records each PID with its start time so that a later process
 * (`tandem chaos heal`) never signals a PID the kernel has since reused.
 */
import type { ServicePaths } from '../config/paths.ts';
import { processTree, type ProcessRef, refOf, sameProcess } from './proc.ts';
import { enginePidOf, isAlive, readSupervisor } from './supervise.ts';

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

export interface SignalResult {
  /** Processes signalled (engine tree; with `withSupervisor`, the supervisor first). */
  readonly processes: readonly ProcessRef[];
  /** Epoch ms of the signal to the engine. */
  readonly at: number;
}

/**
 * kill -9 of the engine's whole process tree. The supervisor restarts it with
 * backoff, unless `withSupervisor`: then the supervisor dies first and the service
 * stays down until `tandem up` (a dead machine, for this service).
 */
export function killService(paths: ServicePaths, opts: { withSupervisor: boolean }): SignalResult {
  const processes: ProcessRef[] = [];
  const sup = readSupervisor(paths);
  if (opts.withSupervisor && sup) {
    // The supervisor first, so it cannot restart the engine.
    const ref = refOf(sup.supervisorPid);
    if (ref && signal(ref.pid, 'SIGKILL')) processes.push(ref);
  }
  // Only the engine the supervisor recorded, with its start time: never a reused PID.
  const pid = enginePidOf(paths);
  // Walk the tree before the first signal, then kill it parents first in one quick
  // loop: the master dies before it could notice a worker's death and respawn it.
  const refs = pid
    ? processTree(pid)
        .map(refOf)
        .filter((r): r is ProcessRef => r !== undefined)
    : [];
  const at = Date.now();
  for (const r of refs) if (signal(r.pid, 'SIGKILL')) processes.push(r);
  return { processes, at };
}

/** SIGSTOP of the engine's whole process tree (the supervisor sees nothing: no restart). */
export function pauseService(paths: ServicePaths): SignalResult {
  const pid = enginePidOf(paths);
  if (!pid) return { processes: [], at: Date.now() };
  const refs = processTree(pid)
    .map(refOf)
    .filter((r): r is ProcessRef => r !== undefined);
  const at = Date.now();
  const processes = refs.filter((r) => signal(r.pid, 'SIGSTOP'));
  return { processes, at };
}

/** SIGCONT to each process that is still the one paused. Returns the PIDs resumed. */
export function resumeProcesses(refs: readonly ProcessRef[]): number[] {
  return refs.filter((r) => sameProcess(r) && signal(r.pid, 'SIGCONT')).map((r) => r.pid);
}

/** True when the service's engine runs under a live supervisor. */
export function serviceRunning(paths: ServicePaths): boolean {
  const sup = readSupervisor(paths);
  return sup !== undefined && isAlive(sup.pid);
}
