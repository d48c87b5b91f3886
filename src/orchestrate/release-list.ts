/** `tandem releases`: the releases the stack keeps, and which one runs on each app host. */
import type { Plan } from '../config/types.ts';
import { listReleases, type ReleaseInfo } from './release-build.ts';
import { readReleaseStates } from './release-state.ts';

export interface ReleasesReport {
  readonly releases: readonly (ReleaseInfo & {
    readonly runningOn: readonly string[];
    readonly previousOn: readonly string[];
  })[];
  readonly hosts: readonly {
    readonly host: string;
    readonly release?: string;
    readonly slot: 'a' | 'b';
    readonly previous?: string;
  }[];
}

/** `tandem releases`: every release kept, and which runs where. */
export function releasesReport(plan: Plan): ReleasesReport {
  const states = readReleaseStates(plan);
  const hosts = plan.services
    .filter((s) => s.kind === 'app')
    .map((s) => {
      const st = states[s.host];
      return {
        host: s.host,
        slot: st?.slot ?? ('a' as const),
        ...(st ? { release: st.id } : {}),
        ...(st?.previous ? { previous: st.previous } : {}),
      };
    });
  return {
    releases: listReleases(plan).map((r) => ({
      ...r,
      runningOn: hosts.filter((h) => h.release === r.id).map((h) => h.host),
      previousOn: hosts.filter((h) => h.previous === r.id).map((h) => h.host),
    })),
    hosts,
  };
}
