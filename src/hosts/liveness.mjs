// The supervisor's liveness decisions, apart from its timers and processes so that unit
// tests drive them without a clock. Plain JavaScript: supervisor.mjs imports it (types in
// liveness.d.mts).
//
// The watch of one engine start: nothing is probed during `graceMs`; then one probe at a
// time (never two: a probe that overruns `timeoutMs` is killed), each starting `everyMs`
// after the previous one started, or at once when that one took longer. A failure
// counts once the engine has passed a probe since it started, or once it has been up
// `startupMs` (a first start or a long crash recovery may take long to answer at all).
// `failures` counted failures in a row restart the engine.

/** Fresh state for a new engine process. */
export function newWatch() {
  return { answered: false, failures: [] };
}

/** Delay before the next probe, given how long the last one took. */
export function nextProbeDelay(liveness, lastTookMs) {
  return Math.max(0, liveness.everyMs - lastTookMs);
}

/**
 * Why a probe failed, in one line: its exit (code, or the signal of our kill when it
 * overran) and the end of what it printed, which names the cause (e.g. ERROR 2002).
 */
export function describeProbeFailure(liveness, outcome) {
  if (outcome.timedOut) return `no answer within ${liveness.timeoutMs} ms`;
  if (outcome.spawnError) return `cannot run the probe: ${outcome.spawnError}`;
  const how = outcome.signal ? `killed by ${outcome.signal}` : `exit code ${outcome.code}`;
  const said = lastLine(outcome.output ?? '');
  return said ? `${how}: ${said}` : how;
}

function lastLine(text) {
  const lines = text.split('\n').map((l) => l.trim());
  const line = lines.filter(Boolean).pop() ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/** A probe passed: exit 0 within its deadline. */
export function probePassed(outcome) {
  return !outcome.timedOut && !outcome.spawnError && outcome.code === 0 && !outcome.signal;
}

/**
 * The watch after one probe. `restart` is the reason to restart the engine (the counted
 * failures' reasons), or null. A failure that does not count yet is `ignored`.
 */
export function afterProbe(liveness, watch, outcome, upForMs) {
  if (probePassed(outcome)) return { watch: { answered: true, failures: [] }, restart: null, ignored: false };
  const startup = liveness.startupMs ?? liveness.graceMs;
  if (!watch.answered && upForMs < startup) return { watch, restart: null, ignored: true };
  const failures = [...watch.failures, describeProbeFailure(liveness, outcome)];
  if (failures.length < liveness.failures) return { watch: { ...watch, failures }, restart: null, ignored: false };
  const restart = `${failures.length} liveness probes failed in a row: ${[...new Set(failures)].join('; ')}`;
  return { watch: { ...watch, failures: [] }, restart, ignored: false };
}
