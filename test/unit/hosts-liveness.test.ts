/** The supervisor's liveness decisions (src/hosts/liveness.mjs): when a probe counts, when the engine restarts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LivenessProbe } from '../../src/engines/types.ts';
import {
  afterProbe,
  describeProbeFailure,
  newWatch,
  nextProbeDelay,
  type ProbeOutcome,
  type Watch,
} from '../../src/hosts/liveness.mjs';

const probe: LivenessProbe = {
  argv: ['probe'],
  everyMs: 1000,
  timeoutMs: 2000,
  failures: 3,
  graceMs: 30_000,
  startupMs: 300_000,
};
const ok: ProbeOutcome = { code: 0, signal: null, timedOut: false, output: 'Uptime\t42\n' };
const hung: ProbeOutcome = { code: null, signal: 'SIGKILL', timedOut: true };
const refused: ProbeOutcome = {
  code: 1,
  signal: null,
  timedOut: false,
  output: "ERROR 2002 (HY000): Can't connect to local server through socket '/s/mariadb.sock' (111)\n",
};

/** Feeds outcomes one after another (the engine up `upForMs` at each); returns each step's result. */
function feed(outcomes: ProbeOutcome[], upForMs: number, watch: Watch = newWatch()) {
  return outcomes.map((outcome) => {
    const step = afterProbe(probe, watch, outcome, upForMs);
    watch = step.watch;
    return step;
  });
}

describe('liveness decisions', () => {
  it('restarts after `failures` failed probes in a row, naming why', () => {
    const steps = feed([ok, hung, hung, hung], 60_000);
    assert.deepEqual(
      steps.map((s) => s.restart),
      [null, null, null, '3 liveness probes failed in a row: no answer within 2000 ms'],
    );
    assert.deepEqual(steps[3]!.watch.failures, [], 'the count starts again for the next engine');
  });

  it('a passed probe resets the count: failures must be in a row', () => {
    const steps = feed([ok, hung, hung, ok, hung, hung], 60_000);
    assert.ok(steps.every((s) => s.restart === null));
    assert.equal(steps.at(-1)!.watch.failures.length, 2);
  });

  it('names each different reason once', () => {
    const steps = feed([ok, refused, hung, refused], 60_000);
    assert.equal(
      steps.at(-1)!.restart,
      "3 liveness probes failed in a row: exit code 1: ERROR 2002 (HY000): Can't connect to local server through socket '/s/mariadb.sock' (111); no answer within 2000 ms",
    );
  });

  it('before its first answer, an engine is not failed until startupMs (a long crash recovery)', () => {
    const starting = feed([refused, refused, refused, refused], 120_000);
    assert.ok(starting.every((s) => s.ignored && s.restart === null));
    const late = feed([refused, refused, refused], 300_000);
    assert.equal(late.at(-1)!.restart?.startsWith('3 liveness probes failed'), true);
  });

  it('once it has answered, every failure counts, however young the engine', () => {
    const steps = feed([ok, refused, refused, refused], 31_000);
    assert.equal(steps.at(-1)!.restart?.startsWith('3 liveness probes failed'), true);
  });

  it('without startupMs, failures count from the end of the grace', () => {
    const short = { ...probe, startupMs: undefined };
    assert.equal(afterProbe(short, newWatch(), refused, 29_000).ignored, true);
    assert.equal(afterProbe(short, newWatch(), refused, 30_000).ignored, false);
  });

  it('describes a failure by its exit or signal and the last line it printed', () => {
    assert.equal(describeProbeFailure(probe, { code: 1, signal: null, timedOut: false }), 'exit code 1');
    assert.equal(describeProbeFailure(probe, { code: null, signal: 'SIGSEGV', timedOut: false }), 'killed by SIGSEGV');
    assert.equal(
      describeProbeFailure(probe, { code: null, signal: null, timedOut: false, spawnError: 'spawn x ENOENT' }),
      'cannot run the probe: spawn x ENOENT',
    );
    const long = describeProbeFailure(probe, {
      code: 2,
      signal: null,
      timedOut: false,
      output: `${'x'.repeat(500)}\n\n`,
    });
    assert.equal(long, `exit code 2: ${'x'.repeat(200)}…`);
  });

  it('starts probes everyMs apart, and at once after one that took the whole period', () => {
    assert.equal(nextProbeDelay(probe, 30), 970);
    assert.equal(nextProbeDelay(probe, 1000), 0);
    assert.equal(nextProbeDelay(probe, 2000), 0);
  });
});
