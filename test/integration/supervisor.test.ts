/** The supervisor restarts a crashed process with backoff and stops it cleanly. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import { processStartTime, processTree } from '../../src/hosts/proc.ts';
import { isAlive, readSupervisor, reapOrphan, startSupervised, stopSupervised } from '../../src/hosts/supervise.ts';
import { sleep } from '../support/stack.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-sup-'));
const paths = servicePaths({ dir: path.join(root, 'h1', 'app'), kind: 'app' });

describe('supervisor', () => {
  after(async () => {
    await stopSupervised(paths).catch(() => {});
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('restarts a killed process, counts restarts, then stops it and itself', async () => {
    const state = await startSupervised(paths, {
      id: 'h1/app',
      argv: ['sleep', '300'],
      cwd: root,
      stopSignal: 'SIGTERM',
    });
    assert.equal(state.state, 'running');
    const first = state.pid!;
    assert.ok(isAlive(first));
    process.kill(first, 'SIGKILL');
    let now = readSupervisor(paths);
    for (let i = 0; i < 100 && (now?.pid === first || now?.state !== 'running'); i++) {
      await sleep(20);
      now = readSupervisor(paths);
    }
    assert.equal(now?.state, 'running');
    assert.notEqual(now?.pid, first);
    assert.equal(now?.restarts, 1);
    assert.equal(fs.readFileSync(paths.pid, 'utf8').trim(), String(now?.pid));
    assert.match(fs.readFileSync(paths.output, 'utf8'), /exited \(SIGKILL\); restarting in 200 ms/);

    assert.equal(await stopSupervised(paths), true);
    assert.equal(isAlive(now?.pid), false);
    assert.equal(isAlive(now?.supervisorPid), false);
    assert.equal(readSupervisor(paths), undefined);
  });

  it('backs off exponentially while a process keeps failing at once', async () => {
    await startSupervised(paths, { id: 'h1/app', argv: ['false'], cwd: root, stopSignal: 'SIGTERM' });
    await sleep(1800);
    const log = fs.readFileSync(paths.output, 'utf8');
    assert.match(log, /code 1\); restarting in 200 ms/);
    assert.match(log, /code 1\); restarting in 400 ms/);
    assert.match(log, /code 1\); restarting in 800 ms/);
    await stopSupervised(paths);
  });

  it('reaps an engine whose supervisor was killed, by its recorded pid', async () => {
    const state = await startSupervised(paths, {
      id: 'h1/app',
      argv: ['sleep', '301'],
      cwd: root,
      stopSignal: 'SIGTERM',
    });
    process.kill(state.supervisorPid, 'SIGKILL');
    await sleep(100);
    assert.equal(readSupervisor(paths), undefined);
    assert.ok(isAlive(state.pid));
    assert.equal(reapOrphan(paths), state.pid);
    await sleep(50);
    assert.equal(isAlive(state.pid), false);
  });

  it('reaps the whole tree of an orphaned engine, as nginx needs (its workers outlive a master killed alone)', async () => {
    // GIVEN an engine with a child of its own (like nginx's master and worker)
    const state = await startSupervised(paths, {
      id: 'h1/app',
      argv: ['sh', '-c', 'sleep 302 & exec sleep 303'],
      cwd: root,
      stopSignal: 'SIGTERM',
    });
    await sleep(100);
    const worker = processTree(state.pid!).find((p) => p !== state.pid);
    assert.ok(worker && isAlive(worker), 'the engine has a child');
    process.kill(state.supervisorPid, 'SIGKILL');
    await sleep(100);
    // WHEN it is reaped by its recorded pid THEN its child dies too
    assert.equal(reapOrphan(paths), state.pid);
    await sleep(50);
    assert.equal(isAlive(state.pid), false);
    assert.equal(isAlive(worker), false);
  });

  it('leaves alone an unrelated process whose PID a stale state file and pid file name', async () => {
    // GIVEN a process tandem never started (its argv even names mariadbd), and state
    // files from another boot naming its PID with the start time of that other process
    const stranger = spawn('bash', ['-c', 'exec -a mariadbd-imposter sleep 600'], { stdio: 'ignore' });
    try {
      await sleep(50);
      const pid = stranger.pid!;
      const startTime = processStartTime(pid)!;
      fs.mkdirSync(paths.dir, { recursive: true });
      fs.writeFileSync(
        paths.supervisor,
        JSON.stringify({
          id: 'h1/app',
          supervisorPid: pid,
          supervisorStartTime: startTime - 1,
          pid,
          startTime: startTime - 1,
          state: 'running',
        }),
      );
      fs.writeFileSync(paths.pid, `${pid}\n`);
      // WHEN tandem looks for its supervisor, reaps orphans and stops the service
      assert.equal(readSupervisor(paths), undefined);
      assert.equal(reapOrphan(paths), undefined);
      assert.equal(await stopSupervised(paths), false);
      // THEN the stranger lives on
      assert.ok(isAlive(pid), 'the unrelated process is alive');
    } finally {
      stranger.kill('SIGKILL');
    }
  });
});
