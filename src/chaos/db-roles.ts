/**
 * Which database is the primary right now. With failover the primary moves, so the
 * config's `plan.db.primary` only says where it started: the primary is the node that
 * answers `@@read_only = 0` (fencing keeps that to one node). Probed on every node
 * through the admin socket; the config is the answer only when no node is writable.
 */
import fs from 'node:fs';
import { servicePaths } from '../config/paths.ts';
import type { Plan } from '../config/types.ts';
import { sentinelFiles } from '../orchestrate/failover.ts';
import { dbHostsOf, readOnlyOf } from '../orchestrate/database/instance.ts';

/** One node's answer: up (answered) and read_only. */
export interface WritableProbe {
  readonly host: string;
  readonly up: boolean;
  readonly readOnly?: boolean;
}

export interface DbRoles {
  readonly primary: string;
  /** Every other database node, in the config's order. */
  readonly replicas: readonly string[];
  /** probe: a node answered writable; config: none did, the config's primary stands. */
  readonly source: 'probe' | 'config';
}

export { dbHostsOf, readOnlyOf };

/**
 * Every node's `read_only`, probed at once. Done as soon as one node answers writable
 * (fencing keeps that to one), else when every node answered or gave up after
 * `timeoutMs`: a frozen or vanished replica does not delay a fault on the primary.
 */
export function probeDbs(plan: Plan, timeoutMs = 1500): Promise<WritableProbe[]> {
  const hosts = dbHostsOf(plan);
  const probes: WritableProbe[] = [];
  return new Promise((resolve) => {
    let pending = hosts.length;
    if (pending === 0) resolve(probes);
    for (const host of hosts) {
      void readOnlyOf(plan, host, timeoutMs)
        .catch(() => undefined)
        .then((readOnly) => {
          probes.push(readOnly === undefined ? { host, up: false } : { host, up: true, readOnly });
          pending -= 1;
          if (readOnly === false || pending === 0) resolve([...probes]);
        });
    }
  });
}

/**
 * The primary from the probes: the writable node (the config's primary if, wrongly,
 * several are); the config's primary when none is writable (every node dead, or a
 * failover under way).
 */
export function pickRoles(plan: Plan, probes: readonly WritableProbe[]): DbRoles {
  const hosts = dbHostsOf(plan);
  const writable = probes.filter((p) => p.up && p.readOnly === false).map((p) => p.host);
  const primary = writable.includes(plan.db.primary) ? plan.db.primary : writable[0];
  return {
    primary: primary ?? plan.db.primary,
    replicas: hosts.filter((h) => h !== (primary ?? plan.db.primary)),
    source: primary ? 'probe' : 'config',
  };
}

/** How long `liveDbRoles` asks again while a node that did not answer may be the primary. */
const SETTLE_MS = 5000;

/**
 * The database roles at this moment. While no node answered writable and some did not
 * answer at all (a loaded machine can keep a probe past its timeout), they are asked
 * again for up to `settleMs`: the config's primary is the answer only when every node
 * said read-only, or still none answered writable by then (a fault on `db:primary`
 * must not hit the old primary, now a replica, because the new one was slow to answer).
 */
export async function liveDbRoles(plan: Plan, settleMs = SETTLE_MS): Promise<DbRoles> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const probes = await probeDbs(plan);
    const roles = pickRoles(plan, probes);
    if (roles.source === 'probe' || probes.every((p) => p.up) || Date.now() >= deadline) return roles;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One sentinel's word on why its database was not promoted (its state file's `notPromoted`). */
export interface SentinelNote {
  readonly host: string;
  readonly notPromoted: string;
}

/** What the sentinels say right now about not promoting their database (none: every one is content). */
export function sentinelNotes(plan: Plan): SentinelNote[] {
  return plan.services
    .filter((s) => s.kind === 'sentinel')
    .flatMap((s) => {
      try {
        const file = sentinelFiles(servicePaths(s)).stateFile;
        const state = JSON.parse(fs.readFileSync(file, 'utf8')) as { notPromoted?: string | null };
        return state.notPromoted ? [{ host: s.host, notPromoted: state.notPromoted }] : [];
      } catch {
        return [];
      }
    });
}
