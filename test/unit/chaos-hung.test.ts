/** A chaos run learns of the databases their supervisors restarted as hung (liveness probe). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import { livenessRestartCounts, restartedAsHung } from '../../src/chaos/hung.ts';
import { processStartTime } from '../../src/hosts/proc.ts';
import { DEFAULT_STACK, planOf, removeTempDirs } from './fixtures/plans.ts';

after(removeTempDirs);

/** The state file a live supervisor would write (this process stands in for it). */
function writeState(dir: string, liveness?: { count: number }) {
  const paths = servicePaths({ dir, kind: 'mariadb' });
  fs.mkdirSync(paths.dir, { recursive: true });
  const self = { supervisorPid: process.pid, supervisorStartTime: processStartTime(process.pid) };
  const at = '2026-11-24T08:00:00.000Z';
  fs.writeFileSync(
    paths.supervisor,
    JSON.stringify({
      id: 'x',
      ...self,
      pid: null,
      state: 'running',
      restarts: 0,
      ...(liveness ? { liveness: { ...liveness, lastReason: 'r', lastAt: at } } : {}),
    }),
  );
}

describe('restartedAsHung', () => {
  it('names the databases whose liveness restarts grew since the count before', () => {
    const plan = planOf(DEFAULT_STACK);
    const [first, second] = plan.services.filter((s) => s.kind === 'mariadb');
    writeState(first!.dir);
    writeState(second!.dir, { count: 1 });
    const before = livenessRestartCounts(plan);
    assert.deepEqual([...before.values()].sort(), [0, 1]);
    assert.deepEqual(restartedAsHung(plan, before), []);
    // WHEN the first is restarted as hung twice
    writeState(first!.dir, { count: 2 });
    assert.deepEqual(restartedAsHung(plan, before), [first!.id]);
  });
});
