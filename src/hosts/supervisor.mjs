// tandem's process supervisor: one small detached Node process per service, like a
// systemd unit with Restart=on-failure. Plain JavaScript so it starts in ~40 ms.
//
//   node supervisor.mjs <spec.json>
//
// spec: { id, argv, cwd, env, output, pidFile, stateFile, stopSignal, reloadSignal,
//         stopTimeoutMs, restartDelayMs, restartMaxDelayMs }
//
// SIGTERM: stop the engine (its stopSignal, then SIGKILL after stopTimeoutMs) and exit.
// SIGHUP: forward the engine's reloadSignal. The engine crashing: restart with
// exponential backoff (reset once it has stayed up for 10 s).
//
// The state file records each PID with its start time (/proc/PID/stat field 22), so
// that tandem never signals a PID the kernel has since given to another process.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

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

function save() {
  const tmp = `${spec.stateFile}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state));
  fs.renameSync(tmp, spec.stateFile);
}

function start() {
  restartTimer = null;
  const out = fs.openSync(spec.output, 'a');
  const proc = spawn(spec.argv[0], spec.argv.slice(1), {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  child = proc;
  const startedAt = Date.now();
  let ended = false;
  const onExit = (code, signal) => {
    if (ended) return;
    ended = true;
    state.lastExit = { code, signal, at: new Date().toISOString() };
    state.pid = null;
    state.startTime = null;
    child = null;
    try {
      fs.unlinkSync(spec.pidFile);
    } catch {}
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
    fs.appendFileSync(
      spec.output,
      `[tandem-supervise] ${spec.id} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms\n`,
    );
    restartTimer = setTimeout(start, delay);
  };
  proc.on('error', (err) => {
    fs.appendFileSync(spec.output, `[tandem-supervise] cannot start ${spec.argv[0]}: ${err.message}\n`);
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
  }
}

process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
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
