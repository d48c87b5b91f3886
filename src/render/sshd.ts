/**
 * The lab's OpenSSH 9.2 server (issue 12): one sshd per lab host, root by key only, every
 * file it reads in the lab's state folder (the machine's /etc/ssh and /root/.ssh are not
 * read or touched). Pure: paths in, file contents out.
 */
import path from 'node:path';
import type { PlanLab } from '../config/types.ts';

type LabHost = PlanLab['hosts'][number];

/** Where one lab host keeps its sshd and the folders it sees as /etc/tandem and /var/lib/tandem. */
export interface LabHostPaths {
  readonly dir: string;
  readonly config: string;
  readonly hostKey: string;
  readonly pidFile: string;
  readonly log: string;
  /** `{ pid, startTime }` of the sshd tandem started: `lab down` signals only that process. */
  readonly process: string;
  /** Bind-mounted onto /etc/tandem in the host's mount namespace. */
  readonly etc: string;
  /** Bind-mounted onto /var/lib/tandem. */
  readonly lib: string;
  /** Bind-mounted onto /root: the host's own home for root. */
  readonly home: string;
}

/** The lab's own files: the client key pair, the authorized keys, the known hosts. */
export function labPaths(lab: Pick<PlanLab, 'dir'>): {
  clientKey: string;
  authorizedKeys: string;
  knownHosts: string;
} {
  return {
    clientKey: path.join(lab.dir, 'id_ed25519'),
    authorizedKeys: path.join(lab.dir, 'authorized_keys'),
    knownHosts: path.join(lab.dir, 'known_hosts'),
  };
}

export function labHostPaths(lab: Pick<PlanLab, 'dir'>, hostName: string): LabHostPaths {
  const dir = path.join(lab.dir, 'hosts', hostName);
  return {
    dir,
    config: path.join(dir, 'sshd_config'),
    hostKey: path.join(dir, 'ssh_host_ed25519_key'),
    pidFile: path.join(dir, 'sshd.pid'),
    log: path.join(dir, 'sshd.log'),
    process: path.join(dir, 'sshd.json'),
    etc: path.join(dir, 'etc-tandem'),
    lib: path.join(dir, 'var-lib-tandem'),
    home: path.join(dir, 'root'),
  };
}

/** A path as sshd_config takes it: in double quotes (a state folder may hold spaces). */
const quoted = (p: string) => {
  if (/["\n]/.test(p)) throw new Error(`sshd_config cannot hold the path ${JSON.stringify(p)}`);
  return `"${p}"`;
};

/** `sshd_config` of one lab host. */
export function renderLabSshdConfig(lab: Pick<PlanLab, 'dir'>, host: LabHost): string {
  const p = labHostPaths(lab, host.name);
  return [
    `# Written by tandem lab for ${host.name}: a real sshd on its own address, root by key only.`,
    `ListenAddress ${host.address}:${host.port}`,
    `HostKey ${quoted(p.hostKey)}`,
    `PidFile ${quoted(p.pidFile)}`,
    // The lab's client key, not /root/.ssh: the machine's own logins stay as they are.
    `AuthorizedKeysFile ${quoted(labPaths(lab).authorizedKeys)}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // StrictModes walks every parent of the authorized keys file and refuses a
    // world-writable one: a state folder below /tmp (tests) would lock everyone out.
    // tandem makes the lab folder and the file itself 0700/0600.
    'StrictModes no',
    'AllowAgentForwarding no',
    'AllowTcpForwarding no',
    'X11Forwarding no',
    'PermitTunnel no',
    // One multiplexed connection carries every step: room for parallel sessions on it.
    'MaxSessions 32',
    'PrintMotd no',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

/** known_hosts lines for the lab's host keys (`addr` on port 22, else `[addr]:port`). */
export function renderKnownHosts(entries: readonly { address: string; port: number; publicKey: string }[]): string {
  return entries
    .map(({ address, port, publicKey }) => {
      const [type, key] = publicKey.trim().split(/\s+/);
      return `${port === 22 ? address : `[${address}]:${port}`} ${type} ${key}\n`;
    })
    .join('');
}
