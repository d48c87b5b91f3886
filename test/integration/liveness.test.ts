/**
 * The supervisor restarts a MariaDB that runs but answers nothing (issue 8, "watch for a
 * hung database"), with the engine's own liveness probe, and leaves a busy one alone:
 * a long query, and a commit waiting for a semi-sync acknowledgement, are not a hang.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolve } from '../../src/config/resolve.ts';
import { mariadbEngine } from '../../src/engines/mariadb.ts';
import type { LivenessProbe } from '../../src/engines/types.ts';
import { isAlive } from '../../src/hosts/proc.ts';
import { enginePidOf, readSupervisor, startSupervised, stopSupervised } from '../../src/hosts/supervise.ts';
import { initialise } from '../../src/orchestrate/database/instance.ts';
import { unitOf, writeUnitFiles } from '../../src/orchestrate/services.ts';
import { mariadbTmpDir } from '../../src/render/mariadb.ts';
import { exec } from '../support/exec.ts';
import { eventually } from '../support/mariadb.ts';
import { sleep } from '../support/stack.ts';

// One database of a loopback stack, as `up` runs it: its rendered option file and its
// supervised spec from unitOf, with the engine's probe. Nothing else of the stack runs.
const root = fs.mkdtempSync('/tmp/tandem-liveness-');
const plan = resolve(
  { name: 'liveness', hosting: 'loopback', network: { subnet: '127.77.0.0/24' } },
  { projectDir: root, bundledAppDir: path.join(root, 'app') },
);
const unit = unitOf(
  plan,
  plan.services.find((s) => s.kind === 'mariadb' && s.host === plan.db.primary)!,
);
const { paths } = unit;
// The engine's probe and stop grace; only the start-up grace is short (a test has no 30 s to wait).
const probe: LivenessProbe = { ...unit.spec.liveness!, graceMs: 2000 };
const clients: ChildProcess[] = [];

/** SQL as root over the socket, as tandem runs it; rejects after `timeoutMs`. */
async function sql(text: string, timeoutMs = 15_000): Promise<string> {
  const r = await exec(mariadbEngine.clientCommand(paths, text), timeoutMs);
  if (r.code !== 0) throw new Error(`${text}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A client session left running in the background (killed by its PID at the end). */
function session(text: string): ChildProcess {
  const argv = mariadbEngine.clientCommand(paths, text);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  clients.push(child);
  return child;
}

/** True when the instance answers a query within 1 s. */
const answers = () =>
  sql('SELECT 1', 1000).then(
    (out) => out === '1',
    () => false,
  );

/** The supervisor's own lines in the engine's output log. */
const supervisorLog = () =>
  fs
    .readFileSync(paths.output, 'utf8')
    .split('\n')
    .filter((l) => l.includes(' [tandem-supervise] '))
    .join('\n');

describe('liveness: the supervisor restarts a hung MariaDB', { timeout: 300_000 }, () => {
  before(async () => {
    assert.ok(unit.spec.liveness, 'the database unit carries a liveness probe');
    writeUnitFiles(unit);
    fs.mkdirSync(mariadbTmpDir(paths.dir), { recursive: true, mode: 0o700 });
    await initialise(paths);
    await startSupervised(paths, { ...unit.spec, liveness: probe });
    await eventually(answers, 'mariadbd answering', 60_000);
  });

  after(async () => {
    for (const c of clients) c.kill('SIGKILL');
    const pid = enginePidOf(paths);
    if (pid) process.kill(pid, 'SIGCONT');
    await stopSupervised(paths, 70_000);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('leaves alone a busy instance: a long query and a commit waiting for a semi-sync acknowledgement', async () => {
    const pid = readSupervisor(paths)!.pid;
    // GIVEN semi-sync on with no replica to acknowledge: every commit waits (100 s)
    await sql(
      [
        'CREATE DATABASE test',
        'CREATE TABLE test.t (id INT PRIMARY KEY) ENGINE=InnoDB',
        'SET GLOBAL rpl_semi_sync_master_timeout = 100000',
        // The stack lets a primary without replicas commit at once; here it must wait.
        'SET GLOBAL rpl_semi_sync_master_wait_no_slave = ON',
        'SET GLOBAL rpl_semi_sync_master_enabled = ON',
      ].join(';'),
    );
    try {
      // WHEN one session commits (and waits) and another runs a 6 s query
      session('INSERT INTO test.t VALUES (1)');
      session('SELECT SLEEP(6)');
      const connections = async () => Number((await sql("SHOW GLOBAL STATUS LIKE 'Connections'")).split('\t')[1]);
      const before = await connections();
      const watchMs = 2 * (probe.failures * probe.everyMs + probe.timeoutMs);
      await sleep(watchMs);
      // Each probe is a new connection: they ran all along (one a second; half of them at least).
      const probes = (await connections()) - before - 1;
      assert.ok(probes >= watchMs / probe.everyMs / 2, `probes while busy: ${probes}`);
      // THEN the commit still waits (the instance was busy all along) and nothing restarted it
      const waiting = await sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT%'");
      assert.equal(waiting, '1', 'the commit waits for its acknowledgement');
      const now = readSupervisor(paths)!;
      assert.equal(now.pid, pid);
      assert.equal(now.liveness, undefined);
      assert.doesNotMatch(supervisorLog(), /liveness probe failed/);
    } finally {
      await sql('SET GLOBAL rpl_semi_sync_master_enabled = OFF; SET GLOBAL rpl_semi_sync_master_wait_no_slave = OFF');
    }
    assert.equal(await sql('SELECT COUNT(*) FROM test.t'), '1', 'the commit went through once released');
  });

  it('restarts an instance that accepts connections but answers nothing (SIGSTOP), and it answers again', async () => {
    const before = readSupervisor(paths)!;
    const pid = enginePidOf(paths)!;
    assert.ok(pid, 'the engine runs, by its recorded pid');
    // GIVEN it has passed a probe since it started (before that, failures count only after startupMs)
    await sleep(Date.parse(before.startedAt!) + probe.graceMs + 2 * probe.everyMs - Date.now());
    // WHEN the engine freezes: the kernel still completes each connection, nobody answers
    const stoppedAt = Date.now();
    process.kill(pid, 'SIGSTOP');
    assert.equal(await answers(), false, 'it answers nothing');
    // THEN the supervisor restarts it and the new instance answers
    // Three failed probes, the slowest of them overrunning, the stop grace (it is SIGKILLed
    // if SIGTERM does not end it), then its start: measured 4.5–5.6 s.
    const boundMs = probe.failures * probe.everyMs + probe.timeoutMs + probe.stopTimeoutMs!;
    await eventually(
      async () => readSupervisor(paths)?.pid !== pid && (await answers()),
      'the restarted instance answering',
      boundMs,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${supervisorLog()}`);
    });
    const downMs = Date.now() - stoppedAt;
    const now = readSupervisor(paths)!;
    const detectedMs = Date.parse(now.liveness?.lastAt ?? '') - stoppedAt;
    process.stderr.write(`# SIGSTOP: found hung after ${detectedMs} ms, answering again after ${downMs} ms\n`);
    assert.ok(downMs <= boundMs, `answering again after ${downMs} ms (bound ${boundMs} ms)\n${supervisorLog()}`);
    assert.equal(isAlive(pid), false, 'the frozen process is gone');
    assert.equal(now.restarts, before.restarts + 1);
    assert.equal(now.liveness?.count, 1);
    assert.match(now.liveness!.lastReason, /^3 liveness probes failed in a row: /);
    assert.ok(detectedMs >= 0, 'the restart it records is this one');
    assert.match(
      supervisorLog(),
      /hung: 3 liveness probes failed in a row: .*; restarting it \(SIGTERM, SIGKILL after 5000 ms\)/,
    );
    assert.equal(await sql('SELECT COUNT(*) FROM test.t'), '1', 'its data survived');
  });
});
