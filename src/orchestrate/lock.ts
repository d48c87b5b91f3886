/**
 * One tandem at a time per stack: the commands that change a stack (`up`, `down`,
 * `destroy`, and the chaos commands that inject or heal) hold `<stateDir>/lock` while
 * they run; `status` and `plan` only read and take none. The lock file names its holder
 * by PID, start time and command line. A holder that is gone (its PID no longer has
 * that start time: it crashed, or was killed with -9) leaves a stale file that the next
 * tandem takes over.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Plan } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { type ProcessRef, refOf, sameProcess } from '../hosts/proc.ts';
import { sleep } from '../hosts/supervise.ts';

export interface LockHolder extends ProcessRef {
  /** The holder's command line, as typed (`tandem up --config …`). */
  readonly command: string;
  readonly since: string;
}

export function lockPath(stateDir: string): string {
  return path.join(stateDir, 'lock');
}

export function readLockHolder(file: string): LockHolder | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/** Takes the lock (returns undefined), or returns the live process that holds it. */
function tryLock(file: string, me: LockHolder): LockHolder | undefined {
  for (;;) {
    // Written whole under a private name, then linked into place: link(2) fails when the
    // lock exists, so two tandems never both succeed and nobody reads half a file.
    const mine = `${file}.${me.pid}`;
    // Again each time: the holder may have removed the folder (destroy, or one made for the lock).
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(mine, JSON.stringify(me));
    try {
      fs.linkSync(mine, file);
      return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.rmSync(mine, { force: true });
    }
    const holder = readLockHolder(file);
    if (holder && sameProcess(holder)) return holder;
    // Its holder is gone: the lock is stale.
    fs.rmSync(file, { force: true });
  }
}

function describe(holder: LockHolder): string {
  return `pid ${holder.pid} (${holder.command}), since ${holder.since}`;
}

/**
 * Runs `fn` holding the stack's lock. Without `wait`, a lock held by another live
 * tandem is an error that names it; with `wait`, waits until it is released. The lock
 * is released when `fn` ends, also when it throws or tandem is interrupted (SIGINT,
 * SIGTERM); after a kill -9 the next tandem finds it stale.
 */
export async function withStackLock<T>(
  plan: Pick<Plan, 'name' | 'stateDir'>,
  opts: { wait: boolean; log?: (message: string) => void },
  fn: () => Promise<T>,
): Promise<T> {
  const createdDir = !fs.existsSync(plan.stateDir);
  const file = lockPath(plan.stateDir);
  const me: LockHolder = {
    ...refOf(process.pid)!,
    command: ['tandem', ...process.argv.slice(2)].join(' '),
    since: new Date().toISOString(),
  };
  let waitingFor: number | undefined;
  for (let holder = tryLock(file, me); holder; holder = tryLock(file, me)) {
    if (!opts.wait) {
      throw new TandemError(
        'TANDEM_LOCKED',
        `another tandem is working on the stack "${plan.name}": ${describe(holder)}`,
        'let it finish and try again, or pass --wait to wait for it',
      );
    }
    if (waitingFor !== holder.pid) opts.log?.(`tandem: waiting for ${describe(holder)} to finish…`);
    waitingFor = holder.pid;
    await sleep(200);
  }
  const release = () => {
    const holder = readLockHolder(file);
    if (holder?.pid === me.pid && holder.startTime === me.startTime) fs.rmSync(file, { force: true });
    // A state folder made only to hold the lock (down of a stack never brought up) goes too.
    if (createdDir) {
      try {
        fs.rmdirSync(plan.stateDir); // only when empty
      } catch {}
    }
  };
  const interrupted = (signal: NodeJS.Signals) => {
    release();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  process.once('exit', release);
  try {
    return await fn();
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    process.off('exit', release);
    release();
  }
}
