/**
 * `tandem lab up|down` (issue 12): SSH hosts made on this machine, so that `hosting:
 * 'ssh'` is tested end to end here. Each lab host is a network namespace on the lab's
 * bridge (netns.ts makes them as for netns hosting: the bridge's address keeps the lab
 * subnet on this machine) running a real sshd on the host's address, inside a private
 * mount namespace where the host's own folders from the lab's state are bind-mounted
 * onto /etc/tandem and /var/lib/tandem: tandem writes there what it would write on a
 * server, and no lab host sees another's files.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Plan, PlanLab } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { type LabHostPaths, labHostPaths, labPaths, renderKnownHosts, renderLabSshdConfig } from '../render/sshd.ts';
import { listeningBeside } from './net.ts';
import { ensureNetwork, listNamespaces, type NetworkLayout, teardownNetwork } from './netns.ts';
import { isAlive, killTree, type ProcessRef, refOf, sameProcess } from './proc.ts';
import { run } from './process.ts';
import { controlDirOf, sshTransport } from './ssh.ts';

const SSHD = '/usr/sbin/sshd';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const IP = '/usr/sbin/ip';
const UNSHARE = '/usr/bin/unshare';
/** What a lab host sees as its own: the folders tandem writes on a server. */
export const LAB_HOST_FOLDERS = ['/etc/tandem', '/var/lib/tandem'] as const;
/** sshd's privilege separation folder; Debian makes it at boot through systemd, which this machine lacks. */
const PRIVSEP_DIR = '/run/sshd';
/** How long a new sshd may take to listen. */
const START_TIMEOUT_MS = 5000;

type LabHost = PlanLab['hosts'][number];

/** The lab of the plan, or a usage error saying how to have one. */
export function labOf(plan: Plan): PlanLab {
  if (!plan.lab) {
    throw new TandemError(
      'TANDEM_USAGE',
      `the stack ${plan.name} has no lab`,
      "set hosting: 'ssh', lab: { subnet: '10.120.0.0/24' } and each host's ssh.address inside it in tandem.config.ts",
    );
  }
  return plan.lab;
}

/** The lab's hosts as netns.ts makes networks: a namespace and a veth each on the lab's bridge. */
export function labLayout(lab: PlanLab): NetworkLayout {
  return {
    network: {
      subnet: lab.subnet,
      prefixLength: lab.prefixLength,
      bridge: lab.bridge,
      bridgeAddress: lab.bridgeAddress,
      hostInterface: 'eth0',
    },
    hosts: lab.hosts.map((h) => ({
      name: h.name,
      address: h.address,
      roles: [],
      dir: labHostPaths(lab, h.name).dir,
      namespace: h.namespace,
      link: h.link,
    })),
    dns: { enabled: false, records: [] },
    subnetSetting: 'lab.subnet',
  };
}

/**
 * The folders a lab host has of its own, each bind-mounted onto its place: what tandem
 * writes on a server, and root's home (a server's own; here the machine's /root would
 * otherwise run its .bashrc, 2 s of pyenv, at every SSH session).
 */
export function labHostMounts(p: LabHostPaths): [source: string, target: string][] {
  return [
    [p.etc, LAB_HOST_FOLDERS[0]],
    [p.lib, LAB_HOST_FOLDERS[1]],
    [p.home, '/root'],
  ];
}

/** argv that starts one lab host's sshd (pure): namespace, private mounts, bind mounts, sshd in the foreground. */
export function sshdStartArgv(host: LabHost, p: LabHostPaths): string[] {
  // `ip netns exec` and `unshare` without --fork both exec: the PID spawned is sshd's.
  const script = 'while [ $# -gt 3 ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; exec "$1" -D -f "$2" -E "$3"';
  return [
    IP,
    'netns',
    'exec',
    host.namespace,
    UNSHARE,
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    script,
    'sh',
    ...labHostMounts(p).flat(),
    SSHD,
    p.config,
    p.log,
  ];
}

function writeFileMode(file: string, content: string, mode: number): void {
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
}

async function keygen(file: string, comment: string): Promise<void> {
  if (fs.existsSync(file)) return;
  await run([SSH_KEYGEN, '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { timeoutMs: 10_000 });
  fs.chmodSync(file, 0o600);
}

/** Keys, authorized keys, known_hosts, each host's sshd_config and folders (kept when present). */
async function writeLabFiles(plan: Plan, lab: PlanLab): Promise<void> {
  const files = labPaths(lab);
  fs.mkdirSync(lab.dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(lab.dir, 0o700);
  await keygen(files.clientKey, `tandem-lab-${plan.name}`);
  writeFileMode(files.authorizedKeys, fs.readFileSync(`${files.clientKey}.pub`, 'utf8'), 0o600);
  const known: { address: string; port: number; publicKey: string }[] = [];
  for (const host of lab.hosts) {
    const p = labHostPaths(lab, host.name);
    fs.mkdirSync(p.dir, { recursive: true, mode: 0o700 });
    for (const dir of [p.etc, p.lib]) fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.mkdirSync(p.home, { recursive: true, mode: 0o700 });
    await keygen(p.hostKey, `tandem-lab-${plan.name}-${host.name}`);
    writeFileMode(p.config, renderLabSshdConfig(lab, host), 0o600);
    known.push({ address: host.address, port: host.port, publicKey: fs.readFileSync(`${p.hostKey}.pub`, 'utf8') });
  }
  writeFileMode(files.knownHosts, renderKnownHosts(known), 0o644);
}

/** The sshd tandem started for this host, when that very process still runs (a reused PID is not ours). */
function runningSshd(p: LabHostPaths): ProcessRef | undefined {
  let ref: ProcessRef;
  try {
    ref = JSON.parse(fs.readFileSync(p.process, 'utf8')) as ProcessRef;
  } catch {
    return undefined;
  }
  if (!sameProcess(ref)) return undefined;
  try {
    // sshd rewrites its title ("sshd: /usr/sbin/sshd -D -f <config> ... [listener] ..."):
    // the config path is in it, though no longer as an argument of its own.
    const title = fs.readFileSync(`/proc/${ref.pid}/cmdline`, 'utf8');
    return fs.readlinkSync(`/proc/${ref.pid}/exe`) === SSHD && title.includes(p.config) ? ref : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The last lines of an sshd log, for an error. */
function logTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-4).join('\n    ');
  } catch {
    return '(no log)';
  }
}

/** Starts the host's sshd unless ours runs; resolves once it listens. True when it was started. */
async function startSshd(lab: PlanLab, host: LabHost): Promise<boolean> {
  const p = labHostPaths(lab, host.name);
  if (runningSshd(p)) return false;
  // sshd checks its own config first: a mistake is said here, not as a silent exit.
  await run([SSHD, '-t', '-f', p.config], { timeoutMs: 10_000 });
  const log = fs.openSync(p.log, 'a', 0o600);
  const child = spawn(sshdStartArgv(host, p)[0]!, sshdStartArgv(host, p).slice(1), {
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  child.on('error', () => {});
  child.unref();
  const ref = child.pid ? refOf(child.pid) : undefined;
  if (!ref)
    throw new TandemError(
      'TANDEM_PROCESS_FAILED',
      `sshd for lab host ${host.name} did not start:\n    ${logTail(p.log)}`,
    );
  writeFileMode(p.process, JSON.stringify(ref), 0o600);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (listeningBeside(ref.pid, host.address, host.port) === true) return true;
    if (!isAlive(ref.pid)) break;
    await sleep(50);
  }
  killTree(ref);
  throw new TandemError(
    'TANDEM_PROCESS_FAILED',
    `sshd for lab host ${host.name} did not listen on ${host.address}:${host.port} within ${START_TIMEOUT_MS / 1000} s:\n    ${logTail(p.log)}`,
    `its log is ${p.log}`,
  );
}

export interface LabUpResult {
  /** sshd processes started now (0: the lab was up). */
  readonly started: number;
  readonly hosts: readonly { readonly name: string; readonly address: string; readonly port: number }[];
  readonly identityFile: string;
  readonly knownHostsFile: string;
}

/**
 * Makes the lab (or repairs what is missing). On a failure everything the lab holds is
 * removed again (`labDown`), and the error said.
 */
export async function labUp(plan: Plan): Promise<LabUpResult> {
  const lab = labOf(plan);
  if (process.getuid?.() !== 0)
    throw new TandemError(
      'TANDEM_USAGE',
      'the lab creates network and mount namespaces, which needs root',
      'run as root',
    );
  for (const binary of [SSHD, SSH_KEYGEN, UNSHARE]) {
    if (!fs.existsSync(binary))
      throw new TandemError(
        'TANDEM_MISSING_ENGINE',
        `${binary} is not installed`,
        'apt-get install -y openssh-server openssh-client util-linux (or scripts/bootstrap.sh)',
      );
  }
  try {
    await writeLabFiles(plan, lab);
    await ensureNetwork(labLayout(lab));
    for (const dir of [...LAB_HOST_FOLDERS, PRIVSEP_DIR]) fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    // Every start settles before a failure is handled: the clean-up must see each sshd started.
    const settled = await Promise.allSettled(lab.hosts.map((h) => startSshd(lab, h)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const started = settled.map((r) => r.status === 'fulfilled' && r.value);
    const files = labPaths(lab);
    return {
      started: started.filter(Boolean).length,
      hosts: lab.hosts.map(({ name, address, port }) => ({ name, address, port })),
      identityFile: files.clientKey,
      knownHostsFile: files.knownHosts,
    };
  } catch (err) {
    await labDown(plan).catch(() => {});
    throw err;
  }
}

export interface LabDownResult {
  /** sshd processes stopped (with their sessions). */
  readonly stopped: number;
  /** Other processes found in the lab's namespaces and killed. */
  readonly strays: number;
  /** Namespaces, links or the bridge were removed. */
  readonly networkRemoved: boolean;
}

/** PIDs still in the namespace (`ip netns pids`); none when it is gone. */
async function pidsIn(namespace: string): Promise<number[]> {
  try {
    const { stdout } = await run([IP, 'netns', 'pids', namespace], { timeoutMs: 5000 });
    return stdout.split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Removes the lab: each sshd tandem started (only that very process, with its sessions),
 * any process left in a lab namespace, the namespaces, links and bridge, the master
 * connections to the lab, and the lab's state folder.
 */
export async function labDown(plan: Plan): Promise<LabDownResult> {
  const lab = labOf(plan);
  await sshTransport(plan, { controlDir: controlDirOf(plan) }).closeAll();
  let stopped = 0;
  for (const host of lab.hosts) {
    const ref = runningSshd(labHostPaths(lab, host.name));
    if (ref && killTree(ref).length > 0) stopped++;
  }
  // A process a session left running in a lab host (it lives in a namespace the lab made).
  const existing = new Set(await listNamespaces());
  let strays = 0;
  for (const host of lab.hosts.filter((h) => existing.has(h.namespace))) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const pids = (await pidsIn(host.namespace)).filter((pid) => isAlive(pid));
      if (pids.length === 0) break;
      // The killed sshd trees take a moment to go: only what is left after that is a stray.
      if (attempt >= 4) {
        for (const pid of pids) {
          const ref = refOf(pid);
          if (ref && killTree(ref).length > 0) strays++;
        }
      }
      await sleep(50);
    }
  }
  const networkRemoved = await teardownNetwork(labLayout(lab));
  fs.rmSync(lab.dir, { recursive: true, force: true });
  return { stopped, strays, networkRemoved };
}
