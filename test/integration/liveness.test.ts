/**
 * The supervisor restarts a MariaDB that runs but answers nothing (issue 8, "watch for a
 * hung database"), with the engine's own liveness probe, and leaves a busy one alone:
 * a long query, and a commit waiting for a semi-sync acknowledgement, are not a hang.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import { mariadbEngine } from '../../src/engines/mariadb.ts';
import type { LivenessProbe } from '../../src/engines/types.ts';
import { isAlive } from '../../src/hosts/proc.ts';
import { enginePidOf, readSupervisor, startSupervised, stopSupervised } from '../../src/hosts/supervise.ts';
import { exec } from '../support/exec.ts';
import { eventually, MariaNode } from '../support/mariadb.ts';
import { sleep } from '../support/stack.ts';

const root = fs.mkdtempSync('/tmp/tandem-liveness-');
const node = new MariaNode(root, 'db', { address: '127.77.0.11', serverId: 1, readOnly: false });
const paths = servicePaths({ dir: node.dir, kind: 'mariadb' });
// The engine's probe and stop grace; only the start-up grace is short (a test has no 30 s to wait).
const probe: LivenessProbe = { ...mariadbEngine.livenessProbe(paths), graceMs: 2000 };
const clients: ChildProcess[] = [];

/** A client session left running in the background (killed by its PID at the end). */
function session(sql: string): ChildProcess {
  const child = spawn('mariadb', ['--no-defaults', `--socket=${node.socket}`, '-uroot', '-e', sql], {
    stdio: 'ignore',
  });
  clients.push(child);
  return child;
}

/** True when the instance answers a query within 1 s. */
const answers = async () =>
  (await exec(['mariadb', '--no-defaults', `--socket=${node.socket}`, '-uroot', '-N', '-e', 'SELECT 1'], 1000))
    .stdout === '1\n';

/** The supervisor's own lines in the engine's output log. */
const supervisorLog = () =>
  fs
    .readFileSync(paths.output, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('[tandem-supervise]'))
    .join('\n');

describe('liveness: the supervisor restarts a hung MariaDB', { timeout: 300_000 }, () => {
  before(async () => {
    await node.init();
    // The probe reads the [client] group of the engine's defaults file, as in a stack.
    fs.appendFileSync(node.cnf, `[client]\nuser=root\nsocket=${node.socket}\n`);
    await startSupervised(paths, {
      id: 'db/mariadb',
      argv: mariadbEngine.runCommand(paths),
      cwd: node.dir,
      stopSignal: mariadbEngine.stopSignal,
      stopTimeoutMs: mariadbEngine.stopGraceMs,
      liveness: probe,
    });
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
    await node.sql(
      [
        'CREATE DATABASE test',
        'CREATE TABLE test.t (id INT PRIMARY KEY) ENGINE=InnoDB',
        'SET GLOBAL rpl_semi_sync_master_timeout = 100000',
        'SET GLOBAL rpl_semi_sync_master_enabled = ON',
      ].join(';'),
    );
    try {
      // WHEN one session commits (and waits) and another runs a 6 s query
      session('INSERT INTO test.t VALUES (1)');
      session('SELECT SLEEP(6)');
      const connections = async () => Number((await node.sql("SHOW GLOBAL STATUS LIKE 'Connections'")).split('\t')[1]);
      const before = await connections();
      const watchMs = 2 * (probe.failures * probe.everyMs + probe.timeoutMs);
      await sleep(watchMs);
      // Each probe is a new connection: they ran all along (one a second; half of them at least).
      const probes = (await connections()) - before - 1;
      assert.ok(probes >= watchMs / probe.everyMs / 2, `probes while busy: ${probes}`);
      // THEN the commit still waits (the instance was busy all along) and nothing restarted it
      const waiting = await node.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT%'");
      assert.equal(waiting, '1', 'the commit waits for its acknowledgement');
      const now = readSupervisor(paths)!;
      assert.equal(now.pid, pid);
      assert.equal(now.liveness, undefined);
      assert.doesNotMatch(supervisorLog(), /liveness probe failed/);
    } finally {
      await node.sql('SET GLOBAL rpl_semi_sync_master_enabled = OFF');
    }
    assert.equal(await node.sql('SELECT COUNT(*) FROM test.t'), '1', 'the commit went through once released');
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
    assert.equal(await node.sql('SELECT COUNT(*) FROM test.t'), '1', 'its data survived');
  });
});
