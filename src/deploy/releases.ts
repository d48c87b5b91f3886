/**
 * Releases and slots (issue 11), pure. A release is a snapshot of the code base with an
 * id (UTC time + content hash). Each app host runs its app in one of two slots: slot a
 * on `app.port`/`app.adminPort`, slot b on both plus `app.slotOffset`. A deploy starts
 * the new release in the slot the host does not use, so old and new run side by side
 * until nginx is switched.
 */
import path from 'node:path';
import type { Plan, PlanHost, PlanRelease, PlanService } from '../config/types.ts';

export type Slot = PlanRelease['slot'];

/** What an app host's release.json records. */
export interface HostReleaseState {
  readonly id: string;
  readonly slot: Slot;
  readonly previous?: string;
}

/** `20261125T061500Z-1a2b3c4d`: sorts by time; the hash says which content. */
export function releaseId(contentHash: string, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${contentHash.slice(0, 8)}`;
}

export const RELEASE_ID = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;

export const otherSlot = (slot: Slot): Slot => (slot === 'a' ? 'b' : 'a');

/** The app's two ports in `slot`. */
export function slotPorts(plan: Plan, slot: Slot): { port: number; adminPort: number } {
  const offset = slot === 'a' ? 0 : plan.app.slotOffset;
  return { port: plan.app.port + offset, adminPort: plan.app.adminPort + offset };
}

/** The private listener of one app service: in the same slot as its public port. */
export function appAdminPort(plan: Plan, service: Pick<PlanService, 'port'>): number {
  return plan.app.adminPort + (service.port - plan.app.port);
}

/** The app service's folder in `slot`: `<host>/app` or `<host>/app-b` (each its own supervisor). */
export function slotDir(host: Pick<PlanHost, 'dir'>, slot: Slot): string {
  return path.join(host.dir, slot === 'a' ? 'app' : 'app-b');
}

/** A release's folder on an app host. */
export function hostReleaseDir(host: Pick<PlanHost, 'dir'>, id: string): string {
  return path.join(host.dir, 'releases', id);
}

/**
 * The Plan with each app host's recorded release: its app service in that slot (port,
 * folder), every nginx upstream naming it on that port, and `app.releases`. Hosts without
 * a state keep slot a and `app.codeDir`. Idempotent: a Plan already with releases is
 * rebuilt from `states` alone.
 */
export function withReleases(plan: Plan, states: Readonly<Record<string, HostReleaseState>>): Plan {
  const releases: Record<string, PlanRelease> = {};
  const portOf = new Map<string, number>();
  const services = plan.services.map((s) => {
    if (s.kind !== 'app') return s;
    const host = plan.hosts.find((h) => h.name === s.host)!;
    const state = states[s.host];
    const slot = state?.slot ?? 'a';
    const { port } = slotPorts(plan, slot);
    portOf.set(s.address, port);
    if (state) {
      releases[s.host] = {
        id: state.id,
        slot,
        dir: hostReleaseDir(host, state.id),
        ...(state.previous ? { previous: state.previous } : {}),
      };
    }
    return { ...s, port, dir: slotDir(host, slot) };
  });
  const upstreams = Object.fromEntries(
    Object.entries(plan.web.upstreams).map(([web, list]) => [
      web,
      list.map((u) => ({ ...u, port: portOf.get(u.address) ?? u.port })),
    ]),
  );
  const app = { ...plan.app, releases };
  if (Object.keys(releases).length === 0) delete (app as { releases?: unknown }).releases;
  return { ...plan, services, web: { ...plan.web, upstreams }, app };
}

/** The code an app host runs: its release's folder, or the configured code base. */
export function runningCodeDir(plan: Plan, host: string): string {
  const releases = plan.app.releases ?? {};
  return (releases[host] ?? Object.values(releases)[0])?.dir ?? plan.app.codeDir;
}

/**
 * The releases to delete on a host: all but the newest `keep`, never one in `protect`
 * (the running and the previous release). Ids sort by time.
 */
export function releasesToPrune(
  ids: readonly string[],
  keep: number,
  protect: readonly (string | undefined)[],
): string[] {
  const newestFirst = [...ids]
    .filter((id) => RELEASE_ID.test(id))
    .sort()
    .reverse();
  return newestFirst.slice(keep).filter((id) => !protect.includes(id));
}
