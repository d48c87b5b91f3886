/** What the load balancer thinks of its servers, read from HAProxy's runtime API. */
import { servicePaths } from '../config/paths.ts';
import type { Plan } from '../config/types.ts';
import { unixRequest } from '../hosts/net.ts';
import { holderOf } from '../hosts/netns.ts';
import { readOnlyAclFile } from '../render/haproxy.ts';

export interface BackendServerState {
  readonly lb: string;
  readonly server: string;
  /** HAProxy's status: UP, DOWN, MAINT, DRAIN, "UP 1/3"… */
  readonly status: string;
  /** Result of the last health check: L7OK once a check has passed; INI before the first. */
  readonly check: string;
}

export async function backendStates(plan: Plan): Promise<BackendServerState[]> {
  const out: BackendServerState[] = [];
  for (const svc of plan.services.filter((s) => s.kind === 'haproxy')) {
    const csv = await unixRequest(servicePaths(svc).socket, 'show stat');
    const lines = csv.split('\n').filter(Boolean);
    const header = (lines[0] ?? '').replace(/^# /, '').split(',');
    const col = (name: string) => header.indexOf(name);
    for (const line of lines.slice(1)) {
      const cells = line.split(',');
      if (cells[col('pxname')] !== 'web' || ['FRONTEND', 'BACKEND'].includes(cells[col('svname')] ?? '')) continue;
      out.push({
        lb: svc.host,
        server: cells[col('svname')] ?? '',
        status: cells[col('status')] ?? '',
        check: (cells[col('check_status')] ?? '').replace(/^\* ?/, ''),
      });
    }
  }
  return out;
}

/** The LB that currently holds the floating IP (netns), or undefined. */
export async function vipHolder(plan: Plan): Promise<string | undefined> {
  if (!plan.lb.vip) return undefined;
  return holderOf(
    plan,
    plan.lb.vip,
    plan.hosts.filter((h) => h.roles.includes('lb')),
  );
}

/** What the LBs let through: everything, reads only, or nothing (each refused with 503 and Retry-After). */
export type SiteMode = 'open' | 'read-only' | 'down';

/**
 * The maintenance switch at every HAProxy, through its runtime API (no reload): in
 * `read-only`, writes (POST, PUT, PATCH, DELETE) are answered 503 at once and reads go
 * on; in `down`, every request is. Returns the LBs that could not be told (down ones).
 */
export async function setSiteMode(plan: Plan, mode: SiteMode): Promise<string[]> {
  const failed: string[] = [];
  const entries = mode === 'open' ? [] : mode === 'read-only' ? ['writes'] : ['writes', 'all'];
  for (const svc of plan.services.filter((s) => s.kind === 'haproxy')) {
    const paths = servicePaths(svc);
    const file = readOnlyAclFile(paths);
    try {
      for (const command of [`clear acl ${file}`, ...entries.map((e) => `add acl ${file} ${e}`)]) {
        const answer = (await unixRequest(paths.socket, command)).trim();
        if (answer) throw new Error(answer);
      }
    } catch {
      failed.push(svc.host);
    }
  }
  return failed;
}

/** Waits (at most `timeoutMs`) until no request is in flight to the web servers at any LB. */
export async function drained(plan: Plan, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let inFlight = 0;
    for (const svc of plan.services.filter((s) => s.kind === 'haproxy')) {
      try {
        const csv = await unixRequest(servicePaths(svc).socket, 'show stat');
        const lines = csv.split('\n').filter(Boolean);
        const header = (lines[0] ?? '').replace(/^# /, '').split(',');
        const [px, sv, scur] = ['pxname', 'svname', 'scur'].map((c) => header.indexOf(c));
        for (const line of lines.slice(1)) {
          const cells = line.split(',');
          if (cells[px!] === 'web' && cells[sv!] === 'BACKEND') inFlight += Number(cells[scur!]) || 0;
        }
      } catch {}
    }
    if (inFlight === 0) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
