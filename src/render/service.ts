/** Lookups the renderers share: which service of a given kind runs on a host. */
import { hostOf } from '../config/resolve.ts';
import type { Plan, PlanHost, PlanService, ServiceKind } from '../config/types.ts';

/** The service of `kind` on `hostName`; throws when the host does not run one. */
export function serviceOn(plan: Plan, hostName: string, kind: ServiceKind): { host: PlanHost; service: PlanService } {
  const host = hostOf(plan, hostName);
  const service = plan.services.find((s) => s.host === hostName && s.kind === kind);
  if (!service) throw new Error(`host ${hostName} runs no ${kind} service (roles: ${host.roles.join(', ') || 'none'})`);
  return { host, service };
}

/** Addresses of every load-balancer host: the only peers nginx trusts for X-Forwarded-For. */
export function lbAddresses(plan: Plan): string[] {
  return plan.hosts.filter((h) => h.roles.includes('lb')).map((h) => h.address);
}

/** First line of every rendered file. */
export function header(comment: string, what: string): string {
  return `${comment} Rendered by tandem: ${what}. Do not edit; change tandem.config.ts and run \`tandem plan\`.`;
}
