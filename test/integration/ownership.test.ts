/**
 * tandem signals only processes it started (issue 7 §2): a PID counts as tandem's only
 * with the start time recorded at spawn. Unrelated processes whose PIDs sit in a
 * service's stale pid files and state files (after a reboot, or a killed supervisor),
 * one of them even named like mariadbd, survive `up`, `down` and `destroy`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import type { PlanService } from '../../src/config/types.ts';
import { isAlive, processStartTime } from '../../src/hosts/proc.ts';
import type { SupervisorState } from '../../src/hosts/supervise.ts';
import { processesUsing, serviceOf, sleep, TestStack } from '../support/stack.ts';

const stack = new TestStack('owner', { name: 'owner', hosting: 'loopback', network: { subnet: '127.71.0.0/24' } });
const strangers: ChildProcess[] = [];
let sleeper = 0;
let imposter = 0;

const serviceDir = (id: string) => path.join(stack.dir, '.tandem', 'hosts', ...id.split('/'));
const pathsOf = (id: string) => servicePaths({ dir: serviceDir(id), kind: id.split('/')[1] as PlanService['kind'] });
const stateOf = (id: string) => JSON.parse(fs.readFileSync(pathsOf(id).supervisor, 'utf8')) as SupervisorState;
const serviceIds = () =>
  fs
    .readdirSync(path.join(stack.dir, '.tandem', 'hosts'))
    .flatMap((host) => fs.readdirSync(path.join(stack.dir, '.tandem', 'hosts', host)).map((k) => `${host}/${k}`))
    // Service folders only: a host folder also holds others (the web hosts' assets).
    .filter((id) => fs.existsSync(path.join(serviceDir(id), 'supervisor.json')));

/** A stranger's PID for a service: the mariadbd look-alike for the databases. */
const strangerFor = (id: string) => (id.endsWith('/mariadb') ? imposter : sleeper);

/** The supervisor dies (kill -9): its engine runs on, and its pid file now names a stranger. */
function killSupervisorAndPlant(id: string): number {
  const state = stateOf(id);
  process.kill(state.supervisorPid, 'SIGKILL');
  fs.writeFileSync(pathsOf(id).pid, `${strangerFor(id)}\n`);
  return state.pid!;
}

/** Every service's files as another boot left them: PIDs that now belong to strangers. */
function plantStaleState(): void {
  const ids = serviceIds();
  assert.ok(ids.length >= 6, `services found: ${ids}`);
  for (const id of ids) {
    const pid = strangerFor(id);
    const startTime = processStartTime(pid)! - 1;
    const paths = pathsOf(id);
    fs.writeFileSync(
      paths.supervisor,
      JSON.stringify({ ...stateOf(id), supervisorPid: pid, supervisorStartTime: startTime, pid, startTime }),
    );
    fs.writeFileSync(paths.pid, `${pid}\n`);
    // The engines' own pid files too (mariadbd and nginx write theirs in the data folder).
    for (const name of ['mariadbd.pid', 'nginx.pid']) fs.writeFileSync(path.join(paths.data, name), `${pid}\n`);
  }
}

function assertStrangersAlive(command: string): void {
  assert.ok(isAlive(sleeper), `the unrelated sleep survived ${command}`);
  assert.ok(isAlive(imposter), `the unrelated "mariadbd-imposter" survived ${command}`);
}

describe('tandem signals only processes it started', { timeout: 600_000 }, () => {
  before(async () => {
    const spawnStranger = (argv: string[]) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
      strangers.push(child);
      return child.pid!;
    };
    sleeper = spawnStranger(['sleep', '600']);
    imposter = spawnStranger(['bash', '-c', 'exec -a mariadbd-imposter sleep 600']);
    await stack.up();
    assert.match(fs.readFileSync(`/proc/${imposter}/cmdline`, 'utf8'), /mariadbd/);
  });
  after(async () => {
    await stack.cleanup();
    for (const child of strangers) child.kill('SIGKILL');
    assert.deepEqual(processesUsing(stack.dir), [], 'no process of the stack is left');
  });

  it('GIVEN killed supervisors whose pid files name strangers WHEN up THEN the orphans are reaped and the strangers live', async () => {
    const orphans = ['server-1/mariadb', 'server-1/app'].map(killSupervisorAndPlant);
    await sleep(100);
    const r = await stack.run('up');
    assert.equal(r.code, 0, r.stderr);
    assertStrangersAlive('up');
    for (const pid of orphans) assert.equal(isAlive(pid), false, `orphan ${pid} was reaped`);
    const status = await stack.status();
    for (const id of ['server-1/mariadb', 'server-1/app']) {
      assert.equal(serviceOf(status, id).state, 'running');
      assert.ok(![sleeper, imposter].includes(serviceOf(status, id).pid!));
    }
  });

  it('GIVEN state files from another boot naming strangers WHEN up THEN every service starts and the strangers live', async () => {
    assert.equal((await stack.run('down')).code, 0);
    plantStaleState();
    const r = await stack.run('up');
    assert.equal(r.code, 0, r.stderr);
    assertStrangersAlive('up');
    const services = (await stack.status()).hosts.flatMap((h) => h.services);
    assert.ok(services.length >= 6);
    for (const s of services) assert.equal(s.state, 'running', s.id);
  });

  it('GIVEN a killed supervisor whose pid file names a stranger WHEN down THEN the orphan is reaped and the stranger lives', async () => {
    const orphan = killSupervisorAndPlant('server-2/mariadb');
    const r = await stack.run('down');
    assert.equal(r.code, 0, r.stderr);
    assertStrangersAlive('down');
    assert.equal(isAlive(orphan), false, 'the orphaned mariadbd was reaped');
    assert.deepEqual(processesUsing(stack.dir), [], 'down left no process of the stack');
  });

  it('GIVEN state files from another boot naming strangers WHEN down and destroy THEN the strangers live', async () => {
    plantStaleState();
    assert.equal((await stack.run('down')).code, 0);
    assertStrangersAlive('down');
    plantStaleState();
    const r = await stack.run('destroy', '--yes');
    assert.equal(r.code, 0, r.stderr);
    assertStrangersAlive('destroy');
  });
});
