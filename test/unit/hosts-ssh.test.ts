/** The SSH transport's pure parts and the lab's sshd files (issue 12): exact argv and text, no process. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { resolve } from '../../src/config/resolve.ts';
import type { PlanSsh, StackConfig } from '../../src/config/types.ts';
import { labLayout, sshdStartArgv } from '../../src/hosts/lab.ts';
import {
  classifySshFailure,
  controlDirOf,
  explainSshFailure,
  shellQuote,
  sshArgv,
  sshControlArgv,
} from '../../src/hosts/ssh.ts';
import { serviceManagerOf } from '../../src/orchestrate/doctor.ts';
import { labHostPaths, renderKnownHosts, renderLabSshdConfig } from '../../src/render/sshd.ts';

const LAB: StackConfig = {
  name: 'shop',
  hosting: 'ssh',
  lab: { subnet: '10.120.0.0/24' },
  hosts: [
    { name: 'a', roles: ['lb'], ssh: { address: '10.120.0.11' } },
    { name: 'b', roles: ['web', 'app', 'db'], ssh: { address: '10.120.0.12', port: 2222 } },
  ],
  database: { primary: 'b' },
};
const plan = resolve(LAB, { projectDir: '/srv/site', bundledAppDir: '/opt/app' });
const opts = { controlDir: '/tmp/tandem-ssh-0123abcd' };

describe('ssh argv', () => {
  it('quotes each argument so that the remote shell reads it back unchanged', () => {
    const args = ['printf', '%s|', "it's", 'a b', '', '$HOME', '`id`', 'x;rm -rf /', 'plain-1.2/x=y'];
    const line = args.map(shellQuote).join(' ');
    assert.equal(line, `printf '%s|' 'it'\\''s' 'a b' '' '$HOME' '\`id\`' 'x;rm -rf /' plain-1.2/x=y`);
    // The shell itself is the judge: sh parses the line back into the same words.
    const out = execFileSync('sh', ['-c', line], { encoding: 'utf8' });
    assert.equal(out, `${args.slice(2).join('|')}|`);
  });

  it('checks host keys strictly, multiplexes, and passes only what the config set', () => {
    const bare: PlanSsh = { address: '192.0.2.11' };
    assert.deepEqual(sshArgv(bare, opts, ['uname', '-n']), [
      '/usr/bin/ssh',
      ...['-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes'],
      ...['-o', 'ControlMaster=auto', '-o', 'ControlPath=/tmp/tandem-ssh-0123abcd/%C', '-o', 'ControlPersist=60'],
      ...['-o', 'ConnectTimeout=5', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3'],
      ...['--', '192.0.2.11', 'uname -n'],
    ]);
    assert.deepEqual(sshArgv({ ...bare, user: 'root' }, opts, ['true']).slice(-5), [
      '-l',
      'root',
      '--',
      '192.0.2.11',
      'true',
    ]);
    const full = sshArgv(plan.hosts[1]!.ssh!, { ...opts, trustNewHostKeys: true }, ['true']);
    assert.ok(full.includes('StrictHostKeyChecking=accept-new'));
    assert.ok(full.includes('UserKnownHostsFile="/srv/site/.tandem/lab/known_hosts"'), full.join(' '));
    assert.ok(full.includes('IdentityFile="/srv/site/.tandem/lab/id_ed25519"'));
    assert.deepEqual(full.slice(full.indexOf('-p')), ['-p', '2222', '--', '10.120.0.12', 'true']);
    assert.deepEqual(sshControlArgv(bare, opts, 'check').slice(-4), ['-O', 'check', '--', '192.0.2.11']);
  });

  it('keeps the master socket path short: under the 104 bytes a socket path may hold', () => {
    const dir = controlDirOf({ stateDir: `/very/long/${'x'.repeat(200)}/.tandem` });
    assert.match(dir, /^\/tmp\/tandem-ssh-[0-9a-f]{8}$/);
    // %C is 40 hex characters; ssh adds 17 while it creates the socket.
    assert.ok(`${dir}/${'0'.repeat(40)}.${'X'.repeat(16)}`.length < 104);
  });

  it('tells the failures apart from what ssh says, and says what to do', () => {
    const cases: [string, string][] = [
      ['ssh: connect to host 10.120.0.99 port 22: No route to host', 'unreachable'],
      ['ssh: connect to host 10.120.0.12 port 22: Connection refused', 'unreachable'],
      ['ssh: connect to host 192.0.2.1 port 22: Connection timed out', 'unreachable'],
      ['@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.', 'host-key-changed'],
      [
        'No ED25519 host key is known for 10.120.0.11 and you have requested strict checking.\nHost key verification failed.',
        'host-key-unknown',
      ],
      ['root@10.120.0.11: Permission denied (publickey).', 'key-refused'],
    ];
    for (const [stderr, kind] of cases) assert.equal(classifySshFailure(stderr), kind, stderr);
    assert.equal(classifySshFailure('bash: nosuch: command not found'), undefined);
    const err = explainSshFailure(plan.hosts[0]!, 'host-key-unknown', '');
    assert.equal(err.code, 'TANDEM_SSH');
    assert.match(err.message, /^a \(root@10\.120\.0\.11\) has a host key that \/srv\/site\/\.tandem\/lab\/known_hosts/);
    assert.match(err.hint!, /--trust-new-host-keys/);
  });
});

describe('the service manager of a host', () => {
  it('is systemd only when systemd is PID 1 and says it booted the host', () => {
    assert.equal(serviceManagerOf('systemd\n', true), 'systemd');
    assert.equal(serviceManagerOf('systemd', false), 'supervisor');
    assert.equal(serviceManagerOf('tini', false), 'supervisor');
    assert.equal(serviceManagerOf('', true), 'supervisor');
  });
});

describe('the lab', () => {
  it("renders each host's sshd_config: its address, its key, root by key only, the lab's authorized keys", () => {
    const lab = plan.lab!;
    assert.equal(
      renderLabSshdConfig(lab, lab.hosts[1]!),
      [
        '# Written by tandem lab for b: a real sshd on its own address, root by key only.',
        'ListenAddress 10.120.0.12:2222',
        'HostKey "/srv/site/.tandem/lab/hosts/b/ssh_host_ed25519_key"',
        'PidFile "/srv/site/.tandem/lab/hosts/b/sshd.pid"',
        'AuthorizedKeysFile "/srv/site/.tandem/lab/authorized_keys"',
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'AllowAgentForwarding no',
        'AllowTcpForwarding no',
        'X11Forwarding no',
        'PermitTunnel no',
        'MaxSessions 32',
        'PrintMotd no',
        'Subsystem sftp internal-sftp',
        '',
      ].join('\n'),
    );
    assert.equal(
      renderKnownHosts([
        { address: '10.120.0.11', port: 22, publicKey: 'ssh-ed25519 AAAAC3 tandem-lab-shop-a\n' },
        { address: '10.120.0.12', port: 2222, publicKey: 'ssh-ed25519 AAAAC4 tandem-lab-shop-b' },
      ]),
      '10.120.0.11 ssh-ed25519 AAAAC3\n[10.120.0.12]:2222 ssh-ed25519 AAAAC4\n',
    );
  });

  it('starts sshd in the host namespace, in a private mount namespace with its own /etc/tandem', () => {
    const lab = plan.lab!;
    const p = labHostPaths(lab, 'a');
    const argv = sshdStartArgv(lab.hosts[0]!, p);
    assert.deepEqual(argv.slice(0, 8), [
      '/usr/sbin/ip',
      'netns',
      'exec',
      'tandem-lab-shop-a',
      '/usr/bin/unshare',
      '--mount',
      '--propagation',
      'private',
    ]);
    // sh's $0, then each folder and where it is mounted, then sshd and its files.
    assert.deepEqual(argv.slice(-10), [
      'sh',
      ...[p.etc, '/etc/tandem'],
      ...[p.lib, '/var/lib/tandem'],
      ...[p.home, '/root'],
      ...['/usr/sbin/sshd', p.config, p.log],
    ]);
    assert.deepEqual(
      labLayout(lab).hosts.map((h) => [h.namespace, h.address, h.link]),
      lab.hosts.map((h) => [h.namespace, h.address, h.link]),
    );
    assert.equal(labLayout(lab).network.bridgeAddress, '10.120.0.1');
  });
});
