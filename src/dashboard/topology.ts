/**
 * What the dashboard's topology picture shows, derived from the Plan and `tandem status`
 * (pure): each host in its tier with its services coloured by health, the load
 * balancers' view of their servers, who holds the VIP and which database is primary.
 */
import type { Plan, Role } from '../config/types.ts';
import type { ServiceStatus, StackStatus } from '../orchestrate/status.ts';

/** up: everything answers; degraded: some of it does not; down: nothing of it does. */
export type Health = 'up' | 'degraded' | 'down';

export interface ServiceView {
  readonly kind: string;
  readonly state: ServiceStatus['state'];
  readonly health: Health;
}

export interface HostView {
  readonly name: string;
  readonly address: string;
  readonly roles: readonly Role[];
  /** The row it is drawn in (TIERS). */
  readonly tier: (typeof TIERS)[number];
  readonly health: Health;
  /** Short facts beside its name: `VIP`, `primary`, `replica`. */
  readonly badges: readonly string[];
  /** The load balancers that do not send to it, and why: `DOWN on lb-1, lb-2`; null: all do (or it is no backend). */
  readonly lbVerdict: string | null;
  readonly services: readonly ServiceView[];
}

export interface TopologyView {
  readonly name: string;
  readonly url: string;
  readonly vip: { readonly address: string; readonly holder: string | null } | null;
  readonly primary: string;
  /** The namespace that plays the internet (netns), drawn above the VIP. */
  readonly client: { readonly name: string; readonly address: string } | null;
  readonly hosts: readonly HostView[];
  /** Lines of the picture: who sends requests to whom; `active` false draws it dashed. */
  readonly links: readonly { readonly from: string; readonly to: string; readonly active: boolean }[];
}

/** The rows of the picture, top to bottom; a host goes in the first row one of its roles names. */
export const TIERS = ['lb', 'web', 'app', 'db', 'monitor'] as const satisfies readonly Role[];

const SERVICE_HEALTH: Record<ServiceStatus['state'], Health> = {
  running: 'up',
  unready: 'degraded',
  backoff: 'down',
  stopped: 'down',
};

function combined(healths: readonly Health[]): Health {
  if (healths.length === 0 || healths.every((h) => h === 'down')) return 'down';
  return healths.every((h) => h === 'up') ? 'up' : 'degraded';
}

/** The VIP and database role of one host. */
function badgesOf(plan: Plan, status: StackStatus, host: string): string[] {
  const badges: string[] = [];
  if (status.lb.vip?.holder === host) badges.push('VIP');
  if (plan.db.primary === host || plan.db.replicas.includes(host))
    badges.push(status.db.primary === host ? 'primary' : 'replica');
  return badges;
}

/** The load balancers' verdict on one backend host, when some LB does not send to it. */
function lbVerdictOf(status: StackStatus, host: string): string | null {
  const down = status.lb.backends.filter((b) => b.server === host && !b.status.startsWith('UP'));
  return down.length > 0 ? `${down[0]!.status} on ${down.map((b) => b.lb).join(', ')}` : null;
}

export function topologyView(plan: Plan, status: StackStatus): TopologyView {
  const hosts = plan.hosts.map((h): HostView => {
    const services = (status.hosts.find((s) => s.name === h.name)?.services ?? []).map((s) => ({
      kind: s.kind,
      state: s.state,
      health: SERVICE_HEALTH[s.state],
    }));
    const lbVerdict = lbVerdictOf(status, h.name);
    let health = combined(services.map((s) => s.health));
    // A web server its load balancers no longer send to is not healthy, whatever runs on it.
    if (health === 'up' && lbVerdict) health = 'degraded';
    return {
      name: h.name,
      address: h.address,
      roles: h.roles,
      tier: TIERS.find((t) => h.roles.includes(t)) ?? 'monitor',
      health,
      badges: badgesOf(plan, status, h.name),
      lbVerdict,
      services,
    };
  });
  const named = (tier: HostView['tier']) => hosts.filter((h) => h.tier === tier).map((h) => h.name);
  const lbs = named('lb');
  const backends = plan.lb.backends.map((b) => b.name);
  const links: { from: string; to: string; active: boolean }[] = [];
  if (status.lb.vip) {
    if (plan.client) links.push({ from: 'client', to: 'vip', active: status.lb.vip.holder !== null });
    for (const lb of lbs) links.push({ from: 'vip', to: lb, active: status.lb.vip.holder === lb });
  } else for (const lb of lbs) links.push({ from: 'client', to: lb, active: true });
  for (const lb of lbs)
    for (const server of backends) {
      const verdict = status.lb.backends.find((b) => b.lb === lb && b.server === server);
      links.push({ from: lb, to: server, active: verdict ? verdict.status.startsWith('UP') : true });
    }
  // Three tiers: web hosts to the app hosts (when apart), apps to the primary (when apart).
  const apps = named('app');
  for (const web of backends) for (const app of apps) if (web !== app) links.push({ from: web, to: app, active: true });
  for (const app of apps.length > 0 ? apps : backends)
    if (app !== status.db.primary) links.push({ from: app, to: status.db.primary, active: true });
  return {
    name: status.name,
    url: status.url,
    vip: status.lb.vip,
    primary: status.db.primary,
    client: plan.client ? { name: plan.client.name, address: plan.client.address } : null,
    hosts,
    links: links.filter((l, i) => links.findIndex((o) => o.from === l.from && o.to === l.to) === i),
  };
}
