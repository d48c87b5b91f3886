/**
 * Processes as /proc shows them: start times (so a PID the kernel reused is never
 * signalled) and whole process trees (nginx and HAProxy run a master and workers:
 * kill -9 of the master alone leaves a worker serving).
 */
import fs from 'node:fs';

/** True for a live process; a zombie is not alive. */
export function isAlive(pid: number | null | undefined): pid is number {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); /proc tells the truth.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** A process as a fault saw it: the PID plus its start time (clock ticks since boot). */
export interface ProcessRef {
  readonly pid: number;
  readonly startTime: number;
}

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The process's start time, or undefined when it is gone. */
export function processStartTime(pid: number): number | undefined {
  const fields = statFields(pid);
  // Field 22 of stat is starttime; fields[] starts at field 3 (state).
  return fields ? Number(fields[19]) : undefined;
}

export function refOf(pid: number): ProcessRef | undefined {
  const startTime = processStartTime(pid);
  return startTime === undefined ? undefined : { pid, startTime };
}

/** True when the PID still names the very process the ref was taken from. */
export function sameProcess(ref: ProcessRef): boolean {
  return isAlive(ref.pid) && processStartTime(ref.pid) === ref.startTime;
}

/** Parent PID of every process on the machine (one pass over /proc). */
function parentMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(Number(entry))?.[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  return children;
}

/** `pid` and all its descendants, parents before children. */
export function processTree(pid: number): number[] {
  if (!isAlive(pid)) return [];
  const children = parentMap();
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * kill -9 of the process `ref` names and every descendant (found while the parent
 * lives), only when the PID still names that very process: a stale PID, reused by the
 * kernel for a process tandem never started, is left alone (returns []).
 */
export function killTree(ref: ProcessRef): number[] {
  if (!sameProcess(ref)) return [];
  const tree = processTree(ref.pid);
  for (const p of tree) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {}
  }
  return tree;
}
