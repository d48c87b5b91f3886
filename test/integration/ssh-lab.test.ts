/**
 * The SSH lab and transport (issue 12), with a real sshd per lab host: `tandem lab up`
 * makes two SSH hosts; the transport runs commands in each one's namespace and writes
 * its own /etc/tandem over one reused master connection; an unknown or changed host
 * key, a refused key and an unreachable host each stop the preflight with a clear
 * message; `tandem lab down` leaves no namespace, link, process or mount.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Plan, PlanHost, StackConfig } from '../../src/config/types.ts';
import { labOf } from '../../src/hosts/lab.ts';
import { listNamespaces } from '../../src/hosts/netns.ts';
import { isAlive } from '../../src/hosts/proc.ts';
import { type SshOptions, SshError, controlDirOf, sshPreflight, sshTransport } from '../../src/hosts/ssh.ts';
import { loadPlan } from '../../src/orchestrate/config-loader.ts';
import { labHostPaths, labPaths } from '../../src/render/sshd.ts';
import { cli } from '../support/stack.ts';

const NAME = 'sshlab';
const SUBNET = '10.120.0';
const CONFIG: StackConfig = {
  name: NAME,
  hosting: 'ssh',
  lab: { subnet: `${SUBNET}.0/24` },
  hosts: [
    { name: 'a', roles: ['lb'], ssh: { address: `${SUBNET}.11` } },
    { name: 'b', roles: ['web', 'app', 'db'], ssh: { address: `${SUBNET}.12` } },
  ],
  database: { primary: 'b' },
};

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-sshlab-'));
const configFile = path.join(dir, 'tandem.config.ts');
fs.writeFileSync(configFile, `export default ${JSON.stringify(CONFIG, null, 2)};\n`);

/** The plan with one host's ssh target changed (a wrong key, another identity, another address). */
function withSsh(plan: Plan, host: string, change: Partial<NonNullable<PlanHost['ssh']>>): Plan {
  return { ...plan, hosts: plan.hosts.map((h) => (h.name === host ? { ...h, ssh: { ...h.ssh!, ...change } } : h)) };
}

/** Every file below the lab hosts' own folders, with its content: what "nothing changed" compares. */
function labFiles(plan: Plan): string {
  const lab = labOf(plan);
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(`${p}=${fs.readFileSync(p, 'utf8')}`);
    }
  };
  for (const h of lab.hosts) for (const d of [labHostPaths(lab, h.name).etc, labHostPaths(lab, h.name).lib]) walk(d);
  return out.sort().join('\n');
}

/** The preflight's error with a transport of its own (no master of the passing checks to reuse). */
async function preflightError(plan: Plan, opts: Partial<SshOptions> = {}): Promise<unknown> {
  const controlDir = `/tmp/tandem-ssh-test-${process.pid}`;
  const transport = sshTransport(plan, { controlDir, connectTimeoutS: 3, ...opts });
  try {
    await sshPreflight(plan, transport);
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await transport.closeAll();
  }
}

describe('ssh lab: real sshd per host, the transport, the preflight', { timeout: 120_000 }, () => {
  let plan: Plan;
  let sshdPids: number[] = [];

  before(async () => {
    const r = await cli(['lab', 'up', '--config', configFile], dir, 60_000);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    plan = await loadPlan(configFile);
    sshdPids = labOf(plan).hosts.map(
      (h) => (JSON.parse(fs.readFileSync(labHostPaths(labOf(plan), h.name).process, 'utf8')) as { pid: number }).pid,
    );
  });

  after(async () => {
    // Also when a test failed: the lab never outlives the file.
    await cli(['lab', 'down', '--config', configFile], dir, 60_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('GIVEN lab up THEN each host runs a real sshd, root by key only, known by the lab', async () => {
    const lab = labOf(plan);
    for (const pid of sshdPids) {
      assert.ok(isAlive(pid));
      assert.equal(fs.readlinkSync(`/proc/${pid}/exe`), '/usr/sbin/sshd');
    }
    // Its own key pair (0600) and known_hosts with each host's own ed25519 key.
    const files = labPaths(lab);
    assert.equal(fs.statSync(files.clientKey).mode & 0o777, 0o600);
    const known = fs.readFileSync(files.knownHosts, 'utf8').trim().split('\n');
    assert.deepEqual(
      known.map((l) => l.split(' ').slice(0, 2).join(' ')),
      [`${SUBNET}.11 ssh-ed25519`, `${SUBNET}.12 ssh-ed25519`],
    );
    assert.notEqual(known[0]!.split(' ')[2], known[1]!.split(' ')[2], 'each host has its own host key');
    // sshd itself says a password is never asked for: the server's effective settings.
    const effective = execFileSync('/usr/sbin/sshd', ['-T', '-f', labHostPaths(lab, 'a').config], { encoding: 'utf8' });
    assert.match(effective, /^permitrootlogin without-password$/m);
    assert.match(effective, /^passwordauthentication no$/m);
    // A second lab up changes nothing: the same sshd processes go on.
    const again = await cli(['lab', 'up', '--config', configFile], dir, 60_000);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /the lab was already up/);
    for (const pid of sshdPids) assert.ok(isAlive(pid));
    // The machine's own /root/.ssh is not where the key went.
    assert.ok(!fs.readFileSync(labHostPaths(lab, 'a').config, 'utf8').includes('/root/.ssh'));
  });

  it('doctor says, over SSH, which service manager each host would run its engines under', async () => {
    const r = await cli(['doctor', '--json', '--config', configFile], dir, 60_000);
    const { checks } = JSON.parse(r.stdout) as { checks: { what: string; ok: boolean }[] };
    // The lab's hosts share this machine's PID 1, which is no systemd: tandem's supervisor.
    const pid1 = fs.readFileSync('/proc/1/comm', 'utf8').trim();
    assert.notEqual(pid1, 'systemd', 'this test expects a machine without systemd as PID 1');
    assert.deepEqual(
      checks.filter((c) => c.what.includes('over SSH')),
      ['a (root@10.120.0.11)', 'b (root@10.120.0.12)'].map((h) => ({
        what: `${h} over SSH: PID 1 is ${pid1}, not systemd: engines run under tandem's supervisor`,
        ok: true,
      })),
    );
    assert.ok(!fs.existsSync(controlDirOf(plan)), 'doctor closed its master connections');
  });

  it("runs commands in each host's own namespace over one reused master connection", async () => {
    const transport = sshTransport(plan);
    await sshPreflight(plan, transport);
    for (const host of plan.hosts) {
      const { stdout } = await transport.run(host.name, ['sh', '-c', 'stat -L -c %i /proc/self/ns/net; hostname -I']);
      const [inode, addresses] = stdout.trim().split('\n');
      const ns = labOf(plan).hosts.find((h) => h.name === host.name)!.namespace;
      assert.equal(Number(inode), fs.statSync(`/run/netns/${ns}`).ino, `${host.name} runs in ${ns}`);
      assert.deepEqual(addresses!.trim().split(/\s+/), [host.address]);
    }
    const master = await transport.masterPid('a');
    assert.ok(master && isAlive(master), 'a master connection to a');
    for (let i = 0; i < 3; i++) assert.equal((await transport.run('a', ['echo', `step ${i}`])).stdout, `step ${i}\n`);
    assert.equal(await transport.masterPid('a'), master, 'the same master carried every step');
    assert.ok(fs.existsSync(controlDirOf(plan)));
  });

  it('GIVEN a file written over SSH to /etc/tandem on a THEN only a sees it, with its mode, in its lab folder', async () => {
    const transport = sshTransport(plan);
    const file = `/etc/tandem/${NAME}/x`;
    const content = "written over ssh: it's a 'test' with $dollars\n";
    await transport.writeFile('a', file, content, 0o640);
    assert.equal(await transport.readFile('a', file), content);
    assert.equal((await transport.run('a', ['stat', '-c', '%a %U', file])).stdout.trim(), '640 root');
    assert.equal(await transport.readFile('b', file), undefined, 'b has its own /etc/tandem');
    assert.ok(!fs.existsSync(file), 'the root namespace does not see it');
    assert.equal(fs.readFileSync(path.join(labHostPaths(labOf(plan), 'a').etc, NAME, 'x'), 'utf8'), content);
    // /var/lib/tandem too is the host's own.
    await transport.writeFile('b', `/var/lib/tandem/${NAME}/y`, 'b\n', 0o600);
    assert.equal(fs.readFileSync(path.join(labHostPaths(labOf(plan), 'b').lib, NAME, 'y'), 'utf8'), 'b\n');
    assert.equal(await transport.readFile('a', `/var/lib/tandem/${NAME}/y`), undefined);
    // root's home is the host's own too (empty here), not this machine's /root.
    assert.equal((await transport.run('a', ['ls', '-A', '/root'])).stdout, '');
    // No temporary file is left beside the written one.
    assert.deepEqual(fs.readdirSync(path.join(labHostPaths(labOf(plan), 'a').etc, NAME)), ['x']);
  });

  it('GIVEN a changed host key THEN the preflight stops, naming the host and what to do, and changes nothing', async () => {
    const before = labFiles(plan);
    const known = fs
      .readFileSync(labPaths(labOf(plan)).knownHosts, 'utf8')
      .trim()
      .split('\n');
    // a's entry carries b's key: what a reinstalled host (or a host in between) shows.
    const wrong = path.join(dir, 'known_hosts.wrong');
    fs.writeFileSync(wrong, `${SUBNET}.11 ${known[1]!.split(' ').slice(1).join(' ')}\n${known[1]}\n`);
    const err = await preflightError(withSsh(plan, 'a', { knownHostsFile: wrong }));
    assert.ok(err instanceof SshError, String(err));
    assert.equal(err.kind, 'host-key-changed');
    assert.match(
      err.message,
      /^a \(root@10\.120\.0\.11\) shows a host key other than the one .* lists.*nothing was changed on any host$/s,
    );
    assert.match(err.hint!, /ssh-keygen -R 10\.120\.0\.11/);
    assert.equal(labFiles(plan), before);
  });

  it('GIVEN an unknown host key THEN the preflight stops, unless told to trust new host keys', async () => {
    const empty = path.join(dir, 'known_hosts.empty');
    fs.writeFileSync(empty, '');
    const unknown = withSsh(plan, 'b', { knownHostsFile: empty });
    const err = await preflightError(unknown);
    assert.ok(err instanceof SshError, String(err));
    assert.equal(err.kind, 'host-key-unknown');
    assert.match(err.hint!, /--trust-new-host-keys/);
    assert.equal(fs.readFileSync(empty, 'utf8'), '', 'nothing learnt without the flag');
    // Trust on first use, only when asked: the key is recorded, and the next check needs no flag.
    assert.equal(await preflightError(unknown, { trustNewHostKeys: true }), undefined);
    // (Hashed or not, as the machine's ssh_config says: Debian hashes.)
    assert.match(
      execFileSync('ssh-keygen', ['-F', `${SUBNET}.12`, '-f', empty], { encoding: 'utf8' }),
      / ssh-ed25519 /,
    );
    assert.equal(await preflightError(unknown), undefined);
  });

  it('GIVEN a key the host refuses THEN the preflight stops, naming the key to install', async () => {
    const before = labFiles(plan);
    const other = path.join(dir, 'other_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const err = await preflightError(withSsh(plan, 'b', { identityFile: other }));
    assert.ok(err instanceof SshError, String(err));
    assert.equal(err.kind, 'key-refused');
    assert.match(err.message, /^b \(root@10\.120\.0\.12\) refused the key: .*Permission denied \(publickey\)/);
    assert.ok(err.hint!.includes(other));
    assert.equal(labFiles(plan), before);
  });

  it('GIVEN an address where nothing listens THEN the preflight stops within the connect timeout, for every bad host at once', async () => {
    const before = labFiles(plan);
    const other = path.join(dir, 'other_ed25519');
    const bad = withSsh(withSsh(plan, 'b', { address: `${SUBNET}.99` }), 'a', { identityFile: other });
    const started = Date.now();
    const err = await preflightError(bad);
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    assert.ok(err instanceof Error && 'code' in err && err.code === 'TANDEM_SSH', String(err));
    assert.match(err.message, /^2 of 2 hosts cannot be worked on over SSH; nothing was changed on any host:/);
    assert.match(err.message, /\n {2}a \(root@10\.120\.0\.11\) refused the key/);
    assert.match(
      err.message,
      /\n {2}b \(root@10\.120\.0\.99\) cannot be reached over SSH: .*(No route to host|timed out)/,
    );
    assert.equal(labFiles(plan), before);
  });

  it('GIVEN lab down THEN no namespace, link, sshd, master, mount or lab folder is left', async () => {
    const lab = labOf(plan);
    const master = await sshTransport(plan).masterPid('a');
    assert.ok(master, 'a master was open before lab down');
    const r = await cli(['lab', 'down', '--config', configFile], dir, 60_000);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /the lab is down \(2 sshd stopped\)/);
    const namespaces = await listNamespaces();
    assert.deepEqual(
      lab.hosts.filter((h) => namespaces.includes(h.namespace)),
      [],
    );
    const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
    for (const name of [lab.bridge, ...lab.hosts.map((h) => h.link)]) assert.ok(!links.includes(`${name}:`), name);
    for (const pid of [...sshdPids, master]) assert.ok(!isAlive(pid), `process ${pid} is gone`);
    assert.ok(!fs.existsSync(controlDirOf(plan)));
    assert.ok(!fs.existsSync(lab.dir));
    // No mount anywhere names the lab: not here, not in any process's mount namespace.
    for (const entry of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
      let mounts = '';
      try {
        mounts = fs.readFileSync(`/proc/${entry}/mountinfo`, 'utf8');
      } catch {
        continue;
      }
      assert.ok(!mounts.includes(lab.dir), `process ${entry} still has a lab mount`);
    }
    const route = execFileSync('ip', ['-4', 'route', 'show', 'to', 'match', `${SUBNET}.11`], { encoding: 'utf8' });
    assert.ok(!route.includes(lab.bridge));
  });

  it('GIVEN a host whose sshd cannot start THEN lab up fails saying why, and leaves nothing behind', async () => {
    const lab = labOf(plan);
    // b's host key is not a key: sshd's own check refuses it, after a's sshd may have started.
    const b = labHostPaths(lab, 'b');
    fs.mkdirSync(b.dir, { recursive: true });
    fs.writeFileSync(b.hostKey, 'not a key\n', { mode: 0o600 });
    fs.writeFileSync(`${b.hostKey}.pub`, 'ssh-ed25519 AAAA tandem\n');
    const r = await cli(['lab', 'up', '--config', configFile], dir, 60_000);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /sshd -t -f .*hosts\/b\/sshd_config` exited with code 1/);
    const namespaces = await listNamespaces();
    assert.deepEqual(
      lab.hosts.filter((h) => namespaces.includes(h.namespace)),
      [],
    );
    assert.ok(!execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).includes(`${lab.bridge}:`));
    assert.ok(!fs.existsSync(lab.dir));
    const sshds = fs
      .readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .filter((e) => {
        try {
          return fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(lab.dir);
        } catch {
          return false;
        }
      });
    assert.deepEqual(sshds, [], 'no process of the lab is left');
  });
});
