/** What the load balancer thinks of its servers, read from HAProxy's runtime API. */
import { servicePaths } from '../config/paths.ts';
import type { Plan, PlanService } from '../config/types.ts';
import { unixRequest } from '../hosts/net.ts';
import { holderOf } from '../hosts/netns.ts';
import { HAPROXY_BACKEND, readOnlyAclFile } from '../render/haproxy.ts';

export interface BackendServerState {
  readonly lb: string;
  readonly server: string;
  /** HAProxy's status: UP, DOWN, MAINT, DRAIN, "UP 1/3"… */
  readonly status: string;
  /** Result of the last health check: L7OK once a check has passed; INI before the first. */
  readonly check: string;
}

/** One LB's `show stat` rows of the web proxy (its servers, FRONTEND and BACKEND), by column name. */
async function webStats(svc: PlanService): Promise<Record<string, string>[]> {
  const csv = await unixRequest(servicePaths(svc).socket, 'show stat');
  const [head = '', ...lines] = csv.split('\n').filter(Boolean);
  const header = head.replace(/^# /, '').split(',');
  return lines
    .map((line) => {
      const cells = line.split(',');
      return Object.fromEntries(header.map((name, i) => [name, cells[i] ?? '']));
    })
    .filter((row) => row.pxname === HAPROXY_BACKEND);
}

const lbServices = (plan: Plan) => plan.services.filter((s) => s.kind === 'haproxy');

export async function backendStates(plan: Plan): Promise<BackendServerState[]> {
  const out: BackendServerState[] = [];
  for (const svc of lbServices(plan)) {
    for (const row of await webStats(svc)) {
      if (row.svname === 'FRONTEND' || row.svname === 'BACKEND') continue;
      out.push({
        lb: svc.host,
        server: row.svname ?? '',
        status: row.status ?? '',
        check: (row.check_status ?? '').replace(/^\* ?/, ''),
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
  for (const svc of lbServices(plan)) {
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
    for (const svc of lbServices(plan)) {
      const rows = await webStats(svc).catch(() => []);
      inFlight += Number(rows.find((r) => r.svname === 'BACKEND')?.scur) || 0;
    }
    if (inFlight === 0) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * One web server's administrative state at every LB, through the runtime API (no
 * reload): `drain` sends it no new requests and lets those in flight finish; `ready`
 * takes it back. Returns the LBs that could not be told.
 */
export async function setServerState(plan: Plan, server: string, state: 'ready' | 'drain'): Promise<string[]> {
  const failed: string[] = [];
  for (const svc of lbServices(plan)) {
    try {
      const answer = (
        await unixRequest(servicePaths(svc).socket, `set server ${HAPROXY_BACKEND}/${server} state ${state}`)
      ).trim();
      if (answer) throw new Error(answer);
    } catch {
      failed.push(svc.host);
    }
  }
  return failed;
}

/** Requests in flight to one web server, summed over the LBs (HAProxy's `scur`). */
export async function serverSessions(plan: Plan, server: string): Promise<number> {
  let sessions = 0;
  for (const svc of lbServices(plan)) {
    const rows = await webStats(svc).catch(() => []);
    sessions += Number(rows.find((r) => r.svname === server)?.scur) || 0;
  }
  return sessions;
}
