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

  it('restarts an engine whose liveness probe keeps failing, with SIGKILL when it ignores its stop signal', async () => {
    // GIVEN an engine that ignores SIGTERM, and a probe that passes while a file exists
    const alive = path.join(root, 'answers');
    fs.writeFileSync(alive, '');
    const liveness = { argv: ['test', '-e', alive], everyMs: 100, timeoutMs: 500, failures: 3, graceMs: 200 };
    const state = await startSupervised(paths, {
      id: 'h1/app',
      argv: ['sh', '-c', 'trap "" TERM; exec sleep 304'],
      cwd: root,
      stopSignal: 'SIGTERM',
      // The final stop's SIGKILL after 1 s instead of the default 20 s (it ignores SIGTERM);
      // unlike the liveness restart's 300 ms, so the log below tells the two apart.
      stopTimeoutMs: 1000,
      liveness: { ...liveness, stopTimeoutMs: 300 },
    });
    const first = state.pid!;
    await sleep(800);
    assert.equal(readSupervisor(paths)?.pid, first, 'passing probes leave it alone');
    // WHEN the probe starts failing
    const hungAt = Date.now();
    fs.rmSync(alive);
    let now = readSupervisor(paths);
    for (let i = 0; i < 200 && (now?.pid === first || now?.state !== 'running'); i++) {
      await sleep(10);
      now = readSupervisor(paths);
    }
    const restartedMs = Date.now() - hungAt;
    fs.writeFileSync(alive, '');
    // THEN after 3 failures (~300 ms), SIGTERM ignored for 300 ms, SIGKILL, 200 ms back-off
    assert.notEqual(now?.pid, first);
    assert.equal(now?.state, 'running');
    assert.equal(isAlive(first), false);
    assert.ok(restartedMs < 2 * (3 * 100 + 300 + 200), `restarted after ${restartedMs} ms`);
    assert.equal(now?.restarts, 1);
    assert.equal(now?.liveness?.count, 1);
    assert.equal(now?.liveness?.lastReason, '3 liveness probes failed in a row: exit code 1');
    const log = fs.readFileSync(paths.output, 'utf8');
    assert.match(log, /liveness probe failed \(1\/3\): exit code 1/);
    assert.match(
      log,
      /hung: 3 liveness probes failed in a row: exit code 1; restarting it \(SIGTERM, SIGKILL after 300 ms\)/,
    );
    assert.match(log, /exited \(SIGKILL\); restarting in 200 ms/);
    await stopSupervised(paths);
  });

  it('GIVEN pipeOutput THEN it writes the output itself and rotates it by rename: no line lost, `keep` files kept', async () => {
    // 3000 numbered lines of ~40 bytes, in 30 bursts 10 ms apart, against a 16 KiB limit.
    fs.rmSync(paths.dir, { recursive: true, force: true });
    const script =
      'i=0; while [ $i -lt 3000 ]; do echo "line $i ......................."; i=$((i+1)); ' +
      '[ $((i % 100)) -eq 0 ] && sleep 0.01; done; exec sleep 305';
    await startSupervised(paths, {
      id: 'h1/app',
      argv: ['sh', '-c', script],
      cwd: root,
      stopSignal: 'SIGTERM',
      pipeOutput: true,
      rotate: { maxBytes: 16 * 1024, keep: 20, everyMs: 20 },
    });
    const generations = () =>
      [...Array.from({ length: 21 }, (_, i) => `${paths.output}.${21 - i}`), paths.output].filter((f) =>
        fs.existsSync(f),
      );
    const lines = () =>
      generations()
        .flatMap((f) => fs.readFileSync(f, 'utf8').split('\n'))
        .filter((l) => l.startsWith('line '));
    for (let i = 0; i < 200 && lines().length < 3000; i++) await sleep(25);
    await sleep(100);
    const all = lines();
    assert.equal(all.length, 3000);
    assert.deepEqual(
      all.map((l) => Number(l.split(' ')[1])),
      Array.from({ length: 3000 }, (_, i) => i),
      'every line once, in order, across the rotated files',
    );
    assert.ok(generations().length >= 4, `rotated ${generations().length - 1} times`);
    assert.equal(fs.existsSync(`${paths.output}.21`), false);
    await stopSupervised(paths);
  });

  it('kills a probe that overruns its deadline: one probe at a time, and it counts as a failure', async () => {
    // GIVEN a probe that never finishes, with a deadline of 300 ms, every 100 ms
    const liveness = { argv: ['sleep', '30'], everyMs: 100, timeoutMs: 300, failures: 8, graceMs: 0 };
    const state = await startSupervised(paths, {
      id: 'h1/app',
      argv: ['sleep', '305'],
      cwd: root,
      stopSignal: 'SIGTERM',
      liveness,
    });
    // WHEN it is watched for 1 s THEN never more than one probe runs (the supervisor's children: engine + probe)
    const atOnce: number[] = [];
    const seen = new Set<number>();
    const until = Date.now() + 1000;
    for (let i = 0; i < 100 && Date.now() < until; i++) {
      const tree = processTree(state.supervisorPid).filter((p) => p !== state.supervisorPid && p !== state.pid);
      atOnce.push(tree.length);
      for (const p of tree) seen.add(p);
      await sleep(20);
    }
    assert.equal(Math.max(...atOnce), 1, `probes running at once: ${[...new Set(atOnce)]}`);
    // Each was killed at its deadline and replaced (1 s / 300 ms: 3 or 4 of them).
    assert.ok(seen.size >= 2, `probes seen: ${seen.size}`);
    // AND eight overruns (2.4 s) restart the engine, saying so
    let now = readSupervisor(paths);
    for (let i = 0; i < 400 && (now?.liveness?.count ?? 0) === 0; i++) {
      await sleep(10);
      now = readSupervisor(paths);
    }
    assert.equal(now?.liveness?.lastReason, '8 liveness probes failed in a row: no answer within 300 ms');
    await stopSupervised(paths);
    assert.deepEqual(
      [...seen].filter((p) => isAlive(p)),
      [],
      'no probe outlives the supervisor',
    );
  });

  it('GIVEN stateFiles THEN they never outlive the engine: removed when it is killed with -9, before it starts again, and when it stops', async () => {
    // The engine writes its state file at start, as keepalived's notify script does at each
    // transition; a stale one from before the supervisor started is gone before the first start.
    const state = path.join(root, 'vrrp.prom');
    fs.writeFileSync(state, 'tandem_vrrp_master 1\n');
    const started = await startSupervised(paths, {
      id: 'h1/app',
      argv: ['sh', '-c', `sleep 0.3; echo "started $$" > ${state}; exec sleep 304`],
      cwd: root,
      stopSignal: 'SIGTERM',
      stateFiles: [state],
    });
    assert.equal(fs.existsSync(state), false, 'a stale state file is removed before the start');
    const written = async () => {
      for (let i = 0; i < 100 && !fs.existsSync(state); i++) await sleep(20);
      return fs.readFileSync(state, 'utf8');
    };
    assert.match(await written(), /^started /);
    // WHEN the engine is killed with -9 (no chance to write anything)
    process.kill(started.pid!, 'SIGKILL');
    let gone = false;
    for (let i = 0; i < 25 && !gone; i++) {
      gone = !fs.existsSync(state);
      if (!gone) await sleep(4);
    }
    assert.ok(gone, 'the state file is removed when the engine dies');
    // THEN the restarted engine writes its own, and a stop removes it again
    assert.match(await written(), /^started /);
    await stopSupervised(paths);
    assert.equal(fs.existsSync(state), false, 'removed after the stop');
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
