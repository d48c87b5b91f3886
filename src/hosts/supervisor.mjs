// tandem's process supervisor: one small detached Node process per service, like a
// systemd unit with Restart=on-failure. Plain JavaScript so it starts in ~40 ms.
//
//   node supervisor.mjs <spec.json>
//
// spec: { id, argv, cwd, env, output, pidFile, stateFile, stopSignal, reloadSignal,
//         stopTimeoutMs, restartDelayMs, restartMaxDelayMs, liveness?, logFiles?, rotate?,
//         pipeOutput?, stateFiles? }
//
// SIGTERM: stop the engine (its stopSignal, then SIGKILL after stopTimeoutMs) and exit.
// SIGHUP: forward the engine's reloadSignal. The engine crashing: restart with
// exponential backoff (reset once it has stayed up for 10 s). The engine hung (its
// liveness probe keeps failing, see liveness.mjs): stop it as above, with SIGCONT in
// case it is stopped, and the crash path restarts it.
//
// Logs: every `rotate.everyMs`, the output file and each of `logFiles` past
// `rotate.maxBytes` is rotated to <file>.1 (older ones shift up to <file>.<keep>, the
// oldest is dropped): copied, then truncated in place (logrotate's copytruncate). Every
// writer appends (O_APPEND), so it goes on at the new end, whatever process holds the
// file open; lines written between the copy and the truncation are lost. An engine
// whose output descriptor would not stay in append mode (HAProxy sets O_NONBLOCK with
// F_SETFL, which clears O_APPEND: after a truncation it would go on writing at its old
// offset, leaving a sparse file) runs with `pipeOutput`: this process reads its output
// from a pipe and writes the file itself, renamed and reopened when rotated.
//
// stateFiles: files the engine writes to say what it is doing (keepalived's VRRP state);
// removed before each start and after each exit, so they never outlive the engine.
//
// The state file records each PID with its start time (/proc/PID/stat field 22), so
// that tandem never signals a PID the kernel has since given to another process.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { afterProbe, newWatch, nextProbeDelay } from './liveness.mjs';

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat). */
function startTimeOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return null;
  }
}

const state = {
  id: spec.id,
  supervisorPid: process.pid,
  supervisorStartTime: startTimeOf(process.pid),
  pid: null,
  startTime: null,
  state: 'starting',
  restarts: 0,
  startedAt: null,
  lastExit: null,
};
let child = null;
let stopping = false;
let failuresInARow = 0;
let restartTimer = null;
/** Ends the liveness watch of the current engine process (timer and running probe). */
let endWatch = () => {};

function save() {
  const tmp = `${spec.stateFile}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state));
  fs.renameSync(tmp, spec.stateFile);
}

/** Removes the engine's state files (see the top of this file). */
function clearStateFiles() {
  for (const file of spec.stateFiles ?? []) fs.rmSync(file, { force: true });
}

function start() {
  restartTimer = null;
  clearStateFiles();
  const out = spec.pipeOutput ? 'pipe' : fs.openSync(spec.output, 'a');
  const proc = spawn(spec.argv[0], spec.argv.slice(1), {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', out, out],
  });
  if (spec.pipeOutput) {
    proc.stdout.on('data', writeOutput);
    proc.stderr.on('data', writeOutput);
  } else fs.closeSync(out);
  child = proc;
  const startedAt = Date.now();
  let ended = false;
  const onExit = (code, signal) => {
    if (ended) return;
    ended = true;
    endWatch();
    state.lastExit = { code, signal, at: new Date().toISOString() };
    state.pid = null;
    state.startTime = null;
    child = null;
    try {
      fs.unlinkSync(spec.pidFile);
    } catch {}
    clearStateFiles();
    if (stopping) {
      state.state = 'stopped';
      save();
      process.exit(0);
    }
    failuresInARow = Date.now() - startedAt > 10_000 ? 1 : failuresInARow + 1;
    const delay = Math.min(spec.restartDelayMs * 2 ** (failuresInARow - 1), spec.restartMaxDelayMs);
    state.state = 'backoff';
    state.restarts++;
    save();
    log(`exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
    restartTimer = setTimeout(start, delay);
  };
  proc.on('error', (err) => {
    log(`cannot start ${spec.argv[0]}: ${err.message}`);
    if (!proc.pid) onExit(127, null);
  });
  proc.on('exit', onExit);
  if (proc.pid) {
    fs.writeFileSync(spec.pidFile, `${proc.pid}\n`);
    state.pid = proc.pid;
    // Not yet reaped (we are its parent and have not seen its exit): /proc still has it.
    state.startTime = startTimeOf(proc.pid);
    state.state = 'running';
    state.startedAt = new Date(startedAt).toISOString();
    save();
    if (spec.liveness) endWatch = watch(proc, startedAt);
  }
}

/** `pipeOutput`: the output file, which this process writes for the engine. */
let outputFd = null;

function writeOutput(chunk) {
  outputFd ??= fs.openSync(spec.output, 'a');
  try {
    fs.writeSync(outputFd, chunk);
  } catch {}
}

/** Appends one line to the engine's output log, where the supervisor's own lines go. */
function log(line) {
  fs.appendFileSync(spec.output, `${new Date().toISOString()} [tandem-supervise] ${spec.id} ${line}\n`);
}

/** Runs the probe once; `done` gets its outcome. Returns a function that kills it. */
function runProbe(liveness, done) {
  let output = '';
  let timedOut = false;
  let finished = false;
  const finish = (outcome) => {
    if (finished) return;
    finished = true;
    clearTimeout(deadline);
    done(outcome);
  };
  const probe = spawn(liveness.argv[0], liveness.argv.slice(1), {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Only the end matters (the error line); keep it small.
  const keep = (chunk) => (output = (output + chunk).slice(-2000));
  probe.stdout.on('data', keep);
  probe.stderr.on('data', keep);
  const deadline = setTimeout(() => {
    timedOut = true;
    probe.kill('SIGKILL');
  }, liveness.timeoutMs);
  probe.on('error', (err) => {
    if (!probe.pid) finish({ code: null, signal: null, timedOut: false, spawnError: err.message });
  });
  probe.on('close', (code, signal) => finish({ code, signal, timedOut, output }));
  return () => {
    finished = true;
    clearTimeout(deadline);
    probe.kill('SIGKILL');
  };
}

/**
 * Probes the engine process `proc` while it runs; restarts it when the probe keeps
 * failing. Returns the function that ends the watch (the engine exited).
 */
function watch(proc, startedAt) {
  const liveness = spec.liveness;
  let seen = newWatch();
  let killProbe = null;
  let timer = setTimeout(probe, liveness.graceMs);
  function probe() {
    timer = null;
    const began = Date.now();
    killProbe = runProbe(liveness, (outcome) => {
      killProbe = null;
      const next = afterProbe(liveness, seen, outcome, Date.now() - startedAt);
      seen = next.watch;
      if (next.restart) return restartHung(proc, next.restart);
      if (!next.ignored && seen.failures.length > 0) {
        log(`liveness probe failed (${seen.failures.length}/${liveness.failures}): ${seen.failures.at(-1)}`);
      }
      timer = setTimeout(probe, nextProbeDelay(liveness, Date.now() - began));
    });
  }
  return () => {
    if (timer) clearTimeout(timer);
    killProbe?.();
  };
}

/**
 * The engine runs but no longer answers: stop it (stop signal, SIGCONT so that a
 * stopped process can act on it, SIGKILL after the grace); its exit restarts it.
 */
function restartHung(proc, reason) {
  if (stopping || child !== proc) return;
  const count = (state.liveness?.count ?? 0) + 1;
  state.liveness = { count, lastReason: reason, lastAt: new Date().toISOString() };
  save();
  const graceMs = spec.liveness.stopTimeoutMs ?? spec.stopTimeoutMs;
  log(`hung: ${reason}; restarting it (${spec.stopSignal}, SIGKILL after ${graceMs} ms)`);
  proc.kill(spec.stopSignal);
  proc.kill('SIGCONT');
  // After its exit, kill() is a no-op: the PID may belong to someone else by then.
  setTimeout(() => proc.kill('SIGKILL'), graceMs).unref();
}

/** Rotates `file` when it has passed the size limit (see the top of this file). */
function rotateIfLarge(file) {
  const { maxBytes, keep } = spec.rotate;
  let size;
  try {
    size = fs.statSync(file).size;
  } catch {
    return;
  }
  if (size < maxBytes) return;
  try {
    fs.rmSync(`${file}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) {
      if (fs.existsSync(`${file}.${i}`)) fs.renameSync(`${file}.${i}`, `${file}.${i + 1}`);
    }
    if (file === spec.output && outputFd !== null) {
      // Written by this process: renamed and reopened, nothing lost.
      if (keep > 0) fs.renameSync(file, `${file}.1`);
      else fs.truncateSync(file, 0);
      fs.closeSync(outputFd);
      outputFd = fs.openSync(file, 'a');
      return;
    }
    if (keep > 0) fs.copyFileSync(file, `${file}.1`);
    fs.truncateSync(file, 0);
  } catch (err) {
    log(`cannot rotate ${file}: ${err.message}`);
  }
}

if (spec.rotate) {
  setInterval(() => {
    rotateIfLarge(spec.output);
    for (const file of spec.logFiles ?? []) rotateIfLarge(file);
  }, spec.rotate.everyMs).unref();
}

process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  endWatch();
  state.state = 'stopping';
  save();
  if (restartTimer) {
    clearTimeout(restartTimer);
    state.state = 'stopped';
    save();
    process.exit(0);
  }
  if (!child) process.exit(0);
  child.kill(spec.stopSignal);
  setTimeout(() => child?.kill('SIGKILL'), spec.stopTimeoutMs).unref();
});
process.on('SIGHUP', () => {
  if (child && spec.reloadSignal) child.kill(spec.reloadSignal);
});
process.on('SIGINT', () => {});

start();
