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

/**
 * Read-only maintenance at the LBs: with `on`, every HAProxy answers writes (POST, PUT,
 * PATCH, DELETE) 503 with Retry-After at once, and reads go on; the runtime API changes
 * it, no reload. Returns the LBs that could not be told (down ones).
 */
export async function setReadOnlySite(plan: Plan, on: boolean): Promise<string[]> {
  const failed: string[] = [];
  for (const svc of plan.services.filter((s) => s.kind === 'haproxy')) {
    const paths = servicePaths(svc);
    const file = readOnlyAclFile(paths);
    try {
      for (const command of [`clear acl ${file}`, ...(on ? [`add acl ${file} writes`] : [])]) {
        const answer = (await unixRequest(paths.socket, command)).trim();
        if (answer) throw new Error(answer);
      }
    } catch {
      failed.push(svc.host);
    }
  }
  return failed;
}
