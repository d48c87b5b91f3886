/**
 * The SSH transport (issue 12): runs commands on `hosting: 'ssh'` hosts with the
 * system's OpenSSH client, one multiplexed master connection per host that every step
 * reuses. Host keys are checked against known_hosts (StrictHostKeyChecking=yes; a new
 * key is accepted only when asked). What the config leaves unset is left to ssh, so
 * `~/.ssh/config` applies. The argv builders are pure; the rest spawns `ssh`.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Plan, PlanHost, PlanSsh } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { ProcessError, run } from './process.ts';

const SSH = '/usr/bin/ssh';

export interface SshOptions {
  /** Accept and record the key of a host that known_hosts does not list yet (trust on first use). */
  readonly trustNewHostKeys?: boolean;
  /** Folder of the master connections' sockets: short, since a socket path holds at most 108 bytes. */
  readonly controlDir: string;
  /** Seconds ssh waits for the TCP connection. @default 5 */
  readonly connectTimeoutS?: number;
  /** Seconds an idle master stays open after its last session. @default 60 */
  readonly persistS?: number;
}

/**
 * The stack's folder of master sockets: `/tmp/tandem-ssh-<8 hex of the state folder>`.
 * Not below the state folder: `<dir>/%C` (40 hex) plus the 17 characters ssh adds while
 * it creates the socket must stay under the 104 bytes some systems allow.
 */
export function controlDirOf(plan: Pick<Plan, 'stateDir'>): string {
  return `/tmp/tandem-ssh-${createHash('sha1').update(plan.stateDir).digest('hex').slice(0, 8)}`;
}

/** A value for `ssh -o`: ssh expands `%` tokens in paths and splits on spaces unless quoted. */
const optionPath = (p: string) => `"${p.replace(/%/g, '%%')}"`;

/** The options of every ssh call to one host (pure): checking, multiplexing, and what the config set. */
export function sshOptionArgs(target: PlanSsh, opts: SshOptions): string[] {
  const o = (option: string) => ['-o', option];
  return [
    ...o('BatchMode=yes'),
    ...o(`StrictHostKeyChecking=${opts.trustNewHostKeys ? 'accept-new' : 'yes'}`),
    ...(target.knownHostsFile ? o(`UserKnownHostsFile=${optionPath(target.knownHostsFile)}`) : []),
    ...(target.identityFile
      ? [...o(`IdentityFile=${optionPath(target.identityFile)}`), ...o('IdentitiesOnly=yes')]
      : []),
    ...o('ControlMaster=auto'),
    ...o(`ControlPath=${opts.controlDir}/%C`),
    ...o(`ControlPersist=${opts.persistS ?? 60}`),
    ...o(`ConnectTimeout=${opts.connectTimeoutS ?? 5}`),
    // A host that vanishes ends the master within 15 s instead of hanging every step.
    ...o('ServerAliveInterval=5'),
    ...o('ServerAliveCountMax=3'),
    ...(target.user !== undefined ? ['-l', target.user] : []),
    ...(target.port !== undefined ? ['-p', String(target.port)] : []),
  ];
}

/** One argument as the remote POSIX shell reads it back unchanged. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_/.:=@%+,-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** argv that runs `remote` on the host (pure). ssh joins its command into one shell line: each argument is quoted. */
export function sshArgv(target: PlanSsh, opts: SshOptions, remote: readonly string[]): string[] {
  if (remote.length === 0) throw new Error('sshArgv: no remote command');
  return [SSH, ...sshOptionArgs(target, opts), '--', target.address, remote.map(shellQuote).join(' ')];
}

/** argv that asks the host's master connection something: `check` or `exit` (pure). */
export function sshControlArgv(target: PlanSsh, opts: SshOptions, command: 'check' | 'exit'): string[] {
  return [SSH, ...sshOptionArgs(target, opts), '-O', command, '--', target.address];
}

export type SshFailureKind = 'unreachable' | 'host-key-changed' | 'host-key-unknown' | 'key-refused';

/** A host tandem could not work on over SSH: which, why, and what to do. */
export class SshError extends TandemError {
  constructor(
    readonly host: string,
    readonly kind: SshFailureKind,
    message: string,
    hint: string,
  ) {
    super('TANDEM_SSH', message, hint);
    this.name = 'SshError';
  }
}

/** What ssh's own failure (exit 255) means, from its stderr; undefined when it is not one of the known kinds. */
export function classifySshFailure(stderr: string): SshFailureKind | undefined {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(stderr)) return 'host-key-changed';
  if (/No \S+ host key is known for|Host key verification failed/i.test(stderr)) return 'host-key-unknown';
  if (/Permission denied \(/i.test(stderr)) return 'key-refused';
  if (
    /Connection refused|Connection timed out|timed out during banner|No route to host|Network is unreachable|Could not resolve hostname|Connection closed by remote host|kex_exchange_identification/i.test(
      stderr,
    )
  )
    return 'unreachable';
  return undefined;
}

/** The user's words for one failure: what happened on which host, and what to do. */
export function explainSshFailure(host: PlanHost, kind: SshFailureKind, stderr: string): SshError {
  const target = host.ssh!;
  const where = `${host.name} (${target.user !== undefined ? `${target.user}@` : ''}${target.address}${target.port ? `:${target.port}` : ''})`;
  const knownHosts = target.knownHostsFile ?? '~/.ssh/known_hosts';
  const detail = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(
      (l) =>
        l &&
        !l.startsWith('@') &&
        !/^(IT IS POSSIBLE|Someone could|It is also possible|Please contact|Add correct|Offending|Host key for|ECDSA|ED25519|RSA) /.test(
          l,
        ),
    )
    .slice(-2)
    .join(' ');
  switch (kind) {
    case 'unreachable':
      return new SshError(
        host.name,
        kind,
        `${where} cannot be reached over SSH: ${detail}`,
        `check the ssh address and port of host ${host.name} in tandem.config.ts, that the host is up with sshd running, and that no firewall drops the SSH port`,
      );
    case 'host-key-changed':
      return new SshError(
        host.name,
        kind,
        `${where} shows a host key other than the one ${knownHosts} lists: the host was reinstalled, or something is in between`,
        `check the host's key fingerprint out of band; if the change is expected, remove the old entry (ssh-keygen -R ${target.address} -f ${knownHosts}) and connect again`,
      );
    case 'host-key-unknown':
      return new SshError(
        host.name,
        kind,
        `${where} has a host key that ${knownHosts} does not list`,
        `add the host's key to ${knownHosts} after checking its fingerprint, or pass --trust-new-host-keys to accept it on first use`,
      );
    case 'key-refused':
      return new SshError(
        host.name,
        kind,
        `${where} refused the key: ${detail}`,
        `install the public key of ${target.identityFile ?? 'your SSH key'} in ${target.user ?? 'the login user'}'s authorized_keys on the host, or set its ssh.identityFile to a key it accepts`,
      );
  }
}

/** The transport's functions for one stack's hosts. */
export interface SshTransport {
  /** Runs argv on the host; rejects with an SshError (ssh failed) or a ProcessError (the command did). */
  run(
    host: string,
    argv: readonly string[],
    opts?: { input?: string; timeoutMs?: number },
  ): Promise<{ stdout: string; stderr: string }>;
  /** Writes the file atomically (a temporary file beside it, renamed), with this mode (e.g. 0o640). */
  writeFile(host: string, file: string, content: string, mode: number): Promise<void>;
  /** The file's text, or undefined when it does not exist. */
  readFile(host: string, file: string): Promise<string | undefined>;
  /** The PID of the host's master connection (on this machine), or undefined when there is none. */
  masterPid(host: string): Promise<number | undefined>;
  /** Closes every host's master connection. */
  closeAll(): Promise<void>;
}

/** The control folder: made 0700, and refused when it is not ours (someone else's in /tmp). */
function ensureControlDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) {
    throw new TandemError(
      'TANDEM_STATE',
      `${dir} (the SSH master sockets) is not a folder only this user can use`,
      `remove ${dir} and run again`,
    );
  }
}

/** Exit status of the remote `readFile` script when the file does not exist. */
const NO_SUCH_FILE = 3;

export function sshTransport(plan: Pick<Plan, 'hosts' | 'stateDir'>, options: Partial<SshOptions> = {}): SshTransport {
  const opts: SshOptions = { controlDir: controlDirOf(plan), ...options };
  const hostOf = (name: string): PlanHost & { ssh: PlanSsh } => {
    const host = plan.hosts.find((h) => h.name === name);
    if (!host?.ssh) throw new TandemError('TANDEM_USAGE', `${name} is not a host reached over SSH`);
    return host as PlanHost & { ssh: PlanSsh };
  };
  const runOn: SshTransport['run'] = async (name, argv, runOpts = {}) => {
    const host = hostOf(name);
    ensureControlDir(opts.controlDir);
    try {
      return await run(sshArgv(host.ssh, opts, argv), { timeoutMs: runOpts.timeoutMs ?? 60_000, input: runOpts.input });
    } catch (err) {
      if (err instanceof ProcessError && err.exitCode === 255) {
        const kind = classifySshFailure(err.stderr);
        if (kind) throw explainSshFailure(host, kind, err.stderr);
      }
      throw err;
    }
  };
  return {
    run: runOn,
    async writeFile(name, file, content, mode) {
      const script =
        'set -e; umask 077; mkdir -p -- "$(dirname -- "$1")"; t=$(mktemp -- "$1.tandem-XXXXXX"); ' +
        'trap \'rm -f -- "$t"\' EXIT; cat >"$t"; chmod "$2" "$t"; mv -f -- "$t" "$1"; trap - EXIT';
      await runOn(name, ['sh', '-c', script, 'sh', file, mode.toString(8).padStart(4, '0')], { input: content });
    },
    async readFile(name, file) {
      const script = `if [ -e "$1" ]; then exec cat -- "$1"; else exit ${NO_SUCH_FILE}; fi`;
      try {
        return (await runOn(name, ['sh', '-c', script, 'sh', file])).stdout;
      } catch (err) {
        if (err instanceof ProcessError && err.exitCode === NO_SUCH_FILE) return undefined;
        throw err;
      }
    },
    async masterPid(name) {
      try {
        const { stdout, stderr } = await run(sshControlArgv(hostOf(name).ssh, opts, 'check'), { timeoutMs: 5000 });
        const m = /pid=(\d+)/.exec(`${stderr}${stdout}`);
        return m ? Number(m[1]) : undefined;
      } catch {
        return undefined;
      }
    },
    async closeAll() {
      if (!fs.existsSync(opts.controlDir)) return;
      await Promise.all(
        plan.hosts
          .filter((h) => h.ssh)
          .map((h) => run(sshControlArgv(h.ssh!, opts, 'exit'), { timeoutMs: 5000 }).catch(() => undefined)),
      );
      // Only sockets of masters that are gone remain (ssh removes its own on exit).
      fs.rmSync(opts.controlDir, { recursive: true, force: true });
    },
  };
}

/**
 * Checks every SSH host before anything is changed: each must be reachable, show the
 * host key known_hosts lists, and accept the key. Opens each host's master connection
 * (kept for the steps that follow). Throws one error naming every host that failed.
 */
export async function sshPreflight(plan: Pick<Plan, 'hosts'>, transport: SshTransport): Promise<void> {
  const hosts = plan.hosts.filter((h) => h.ssh);
  const results = await Promise.allSettled(hosts.map((h) => transport.run(h.name, ['true'], { timeoutMs: 20_000 })));
  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [{ host: hosts[i]!, err: r.reason }] : []));
  if (failures.length === 0) return;
  if (failures.length === 1 && failures[0]!.err instanceof SshError) {
    const { err } = failures[0]!;
    throw new SshError(err.host, err.kind, `${err.message}; nothing was changed on any host`, err.hint ?? '');
  }
  const lines = failures.map(({ err }) => `  ${err instanceof Error ? err.message : String(err)}`);
  const hints = [
    ...new Set(failures.map(({ err }) => (err instanceof TandemError ? err.hint : undefined)).filter(Boolean)),
  ];
  throw new TandemError(
    'TANDEM_SSH',
    `${failures.length} of ${hosts.length} hosts cannot be worked on over SSH; nothing was changed on any host:\n${lines.join('\n')}`,
    hints.join('\n  → '),
  );
}
