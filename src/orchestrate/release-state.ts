/**
 * Which release each app host runs, and in which slot: a small JSON file on the host
 * (`<host>/release.json`, 0644, no secrets) that `tandem deploy` writes once a host is
 * switched. The config loader reads it into the Plan, so `up`, `status` and `down` see
 * the app where it runs and a deploy is not undone by the next `up`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Plan, PlanHost } from '../config/types.ts';
import { type HostReleaseState, RELEASE_ID, withReleases } from '../deploy/releases.ts';

const STATE_FILE = 'release.json';

const stateFile = (host: Pick<PlanHost, 'dir'>) => path.join(host.dir, STATE_FILE);

export function readHostRelease(host: Pick<PlanHost, 'dir'>): HostReleaseState | undefined {
  let raw: Partial<HostReleaseState>;
  try {
    raw = JSON.parse(fs.readFileSync(stateFile(host), 'utf8')) as Partial<HostReleaseState>;
  } catch {
    return undefined;
  }
  if (typeof raw.id !== 'string' || !RELEASE_ID.test(raw.id) || (raw.slot !== 'a' && raw.slot !== 'b'))
    return undefined;
  return { id: raw.id, slot: raw.slot, ...(typeof raw.previous === 'string' ? { previous: raw.previous } : {}) };
}

/** Through a temp file and a rename: a reader never sees half a state. */
export function writeHostRelease(host: Pick<PlanHost, 'dir'>, state: HostReleaseState): void {
  const file = stateFile(host);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  fs.renameSync(`${file}.tmp`, file);
}

/** Every app host's recorded release. */
export function readReleaseStates(plan: Plan): Record<string, HostReleaseState> {
  const states: Record<string, HostReleaseState> = {};
  for (const s of plan.services) {
    if (s.kind !== 'app') continue;
    const state = readHostRelease(plan.hosts.find((h) => h.name === s.host)!);
    if (state) states[s.host] = state;
  }
  return states;
}

/** The Plan as the hosts run it: each app host's release and slot applied. */
export function withRunningReleases(plan: Plan): Plan {
  return withReleases(plan, readReleaseStates(plan));
}
