/** `doctor`: what this machine lacks to run a stack, and how to get it. */
import fs from 'node:fs';
import type { Plan } from '../config/types.ts';
import { engines, monitorEngines, tools } from '../engines/index.ts';
import { TandemError } from '../errors.ts';
import { type SshTransport, sshPreflight } from '../hosts/ssh.ts';

export interface Requirement {
  readonly binary: string;
  readonly debianPackage: string;
  readonly why: string;
  /** Needed by `up` on every hosting, on netns only, with a monitor host, or only by `bench` and tests. */
  readonly needed: 'always' | 'netns' | 'monitor' | 'tools';
}

const NETNS_ENGINES = new Set(['keepalived', 'dnsmasq', 'nftables']);

export const REQUIREMENTS: readonly Requirement[] = [
  ...[...Object.values(engines), ...Object.values(tools)].flatMap((e) =>
    e.binaries.map((b) => ({
      binary: b.path,
      debianPackage: b.debianPackage,
      why: e.name,
      needed: NETNS_ENGINES.has(e.name) ? ('netns' as const) : ('always' as const),
    })),
  ),
  ...Object.values(monitorEngines).flatMap((e) =>
    e.binaries.map((b) => ({
      binary: b.path,
      debianPackage: b.debianPackage,
      why: e.name,
      needed: 'monitor' as const,
    })),
  ),
  { binary: '/usr/sbin/ip', debianPackage: 'iproute2', why: 'network namespaces', needed: 'netns' },
  { binary: '/usr/bin/curl', debianPackage: 'curl', why: 'probes and the client', needed: 'netns' },
  { binary: '/usr/bin/wrk', debianPackage: 'wrk', why: 'benchmarks (npm run bench)', needed: 'tools' },
  { binary: '/usr/bin/nmap', debianPackage: 'nmap', why: 'firewall scans in the tests', needed: 'tools' },
];

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** What `up` needs and lacks for this hosting, and a monitor host when the stack has one. */
export function missingEngines(hosting: 'loopback' | 'netns' | 'ssh', monitored: boolean): Requirement[] {
  return REQUIREMENTS.filter(
    (r) =>
      (r.needed === 'always' || r.needed === hosting || (monitored && r.needed === 'monitor')) && !executable(r.binary),
  );
}

export interface DoctorReport {
  readonly ok: boolean;
  readonly checks: readonly { what: string; ok: boolean; fix?: string }[];
}

export function doctor(): DoctorReport {
  const checks: { what: string; ok: boolean; fix?: string }[] = REQUIREMENTS.map((r) => {
    const ok = executable(r.binary);
    return { what: `${r.binary} (${r.why})`, ok, fix: ok ? undefined : `apt-get install -y ${r.debianPackage}` };
  });
  const major = Number(process.versions.node.split('.')[0]);
  checks.push({
    what: `Node.js ${process.versions.node} (20 or newer)`,
    ok: major >= 20,
    fix: major >= 20 ? undefined : 'install Node.js 20',
  });
  const root = process.getuid?.() === 0;
  checks.push({
    what: 'running as root (network namespaces; ports below 1024)',
    ok: root,
    fix: root ? undefined : 'run as root, or set lb.port / web.port above 1024',
  });
  return { ok: checks.every((c) => c.ok), checks };
}

/** What runs a host's engines: systemd units when systemd is PID 1, else tandem's own supervisor. */
export type ServiceManager = 'systemd' | 'supervisor';

/**
 * The service manager of a host from its PID 1's name and whether /run/systemd/system
 * exists: systemd's own test that it booted the machine (sd_booted()). A container or
 * this lab (its hosts share this machine's PID 1) has no systemd to hand units to.
 */
export function serviceManagerOf(pid1: string, systemdBooted: boolean): ServiceManager {
  return pid1.trim() === 'systemd' && systemdBooted ? 'systemd' : 'supervisor';
}

/** The shell line that prints a host's PID 1 name, then `booted` or `not-booted`. */
export const SERVICE_MANAGER_PROBE = [
  'sh',
  '-c',
  'cat /proc/1/comm; if [ -d /run/systemd/system ]; then echo booted; else echo not-booted; fi',
];

type Check = { what: string; ok: boolean; fix?: string };

/**
 * ssh hosting: every host checked over SSH (the preflight: reachable, known host key,
 * our key accepted), then which service manager each would run its engines under.
 */
export async function sshHostChecks(plan: Plan, transport: SshTransport): Promise<Check[]> {
  try {
    await sshPreflight(plan, transport);
  } catch (err) {
    if (!(err instanceof TandemError)) throw err;
    return [{ what: err.message, ok: false, fix: err.hint }];
  }
  return Promise.all(
    plan.hosts
      .filter((h) => h.ssh)
      .map(async (h): Promise<Check> => {
        const [pid1 = '', booted = ''] = (await transport.run(h.name, SERVICE_MANAGER_PROBE)).stdout.split('\n');
        const manager = serviceManagerOf(pid1, booted.trim() === 'booted');
        const how =
          manager === 'systemd'
            ? 'systemd is PID 1: engines run as systemd units'
            : `PID 1 is ${pid1.trim() || 'unknown'}, not systemd: engines run under tandem's supervisor`;
        return {
          what: `${h.name} (${h.ssh!.user !== undefined ? `${h.ssh!.user}@` : ''}${h.ssh!.address}) over SSH: ${how}`,
          ok: true,
        };
      }),
  );
}
