/**
 * Fault targets named the user's way, resolved against the Plan:
 *   `server-1`          every service of a host
 *   `server-1/app`      one service (kinds: haproxy, nginx, app, mariadb; aliases lb, web, db)
 *   `db:primary`        the MariaDB that is writable right now (probed; see db-roles.ts)
 *   `db:replica`        the first other MariaDB (`db:replica-2` for the second)
 *   `db:primary-host`   the whole host of the writable MariaDB (`db:replica-host` likewise)
 *   `etcd:member`       an etcd member: the one beside the writable MariaDB, else the first
 *   `lb:active`         netns: the load-balancer host holding the floating IP right now
 *   `lb:standby`        netns: the other one (the first LB not holding it)
 * A group (partition sides) is a comma-separated list of targets, each standing for the
 * hosts it lives on: `db:primary`, `server-1,lb-1`. The `db:`, `lb:` and `etcd:` names
 * are resolved when the fault is injected (`resolveLive`), so a scenario that repeats a
 * fault against `db:primary` hits whichever node is the primary at that moment; without
 * a probe (`resolveTarget` alone) they name the config's roles.
 */
import type { Plan, PlanHost, PlanService, ServiceKind } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { vipHolder } from '../orchestrate/lb.ts';
import { liveDbRoles } from './db-roles.ts';

export interface Target {
  /** As the user wrote it. */
  readonly name: string;
  /** Set when the whole host is targeted. */
  readonly host?: string;
  readonly services: readonly PlanService[];
}

const KIND_ALIASES: Record<string, ServiceKind> = {
  haproxy: 'haproxy',
  lb: 'haproxy',
  nginx: 'nginx',
  web: 'nginx',
  app: 'app',
  mariadb: 'mariadb',
  db: 'mariadb',
  // Written as a string: the kind exists only where etcd is part of the stack.
  etcd: 'etcd' as string as ServiceKind,
};

/** The stack's etcd members (none on a stack without etcd). */
export const etcdServices = (plan: Plan): PlanService[] => plan.services.filter((s) => (s.kind as string) === 'etcd');

const DB_ROLE = /^db:(primary|replica)(?:-(\d+))?(-host)?$/;

/** The names `resolveTarget` accepts for this plan, for error messages and `chaos targets`. */
export function targetNames(plan: Plan): string[] {
  const names = plan.hosts.map((h) => h.name);
  names.push(...plan.services.map((s) => s.id));
  if (plan.db.primary) names.push('db:primary');
  if (plan.db.primary) names.push('db:primary-host');
  if (plan.db.replicas.length > 0) names.push('db:replica', 'db:replica-host');
  if (etcdServices(plan).length > 0) names.push('etcd:member');
  if (plan.lb.vip) names.push('lb:active', 'lb:standby');
  return names;
}

function dbTarget(plan: Plan, name: string, host: string | undefined): Target {
  const service = plan.services.find((s) => s.kind === 'mariadb' && s.host === host);
  if (!service) throw unknown(plan, name);
  return { name, services: [service] };
}

function unknown(plan: Plan, name: string): TandemError {
  return new TandemError(
    'TANDEM_USAGE',
    `no fault target '${name}' in this stack`,
    `targets: ${targetNames(plan).join(', ')}`,
  );
}

/** The host a `db:` name stands for, given the roles (`db:replica-2`: the second replica). */
function dbHostOf(roles: { primary: string; replicas: readonly string[] }, name: string): string | undefined {
  const m = DB_ROLE.exec(name);
  if (!m || (m[1] === 'primary' && m[2] !== undefined)) return undefined;
  return m[1] === 'primary' ? roles.primary || undefined : roles.replicas[Number(m[2] ?? 1) - 1];
}

export function resolveTarget(plan: Plan, name: string): Target {
  if (DB_ROLE.test(name)) {
    const host = dbHostOf(plan.db, name);
    if (name.endsWith('-host')) {
      if (!host) throw unknown(plan, name);
      return { ...resolveTarget(plan, host), name };
    }
    return dbTarget(plan, name, host);
  }
  if (name === 'etcd:member') {
    const member = etcdServices(plan)[0];
    if (!member) throw unknown(plan, name);
    return { name, services: [member] };
  }
  const [hostName, kindName, extra] = name.split('/');
  const host = plan.hosts.find((h) => h.name === hostName);
  if (!host || extra !== undefined) throw unknown(plan, name);
  if (kindName === undefined) {
    return { name, host: host.name, services: plan.services.filter((s) => s.host === host.name) };
  }
  const kind = KIND_ALIASES[kindName];
  const service = plan.services.find((s) => s.host === host.name && s.kind === kind);
  if (!service) throw unknown(plan, name);
  return { name, services: [service] };
}

/**
 * Resolves the names that depend on the stack's state at this moment to a host or
 * service name: `lb:active`/`lb:standby` (who holds the VIP), `db:*` (who is writable),
 * `etcd:member` (beside the writable database); any other name is returned as it is.
 */
export async function resolveLive(plan: Plan, name: string): Promise<string> {
  if (DB_ROLE.test(name) || name === 'etcd:member') return resolveDbLive(plan, name);
  if (name !== 'lb:active' && name !== 'lb:standby') return name;
  const lbs = plan.hosts.filter((h) => h.roles.includes('lb'));
  if (!plan.lb.vip || lbs.length < 2) {
    throw new TandemError(
      'TANDEM_USAGE',
      `${name} needs a floating IP held by one of two load balancers (netns hosting); this stack has ${lbs.length} load balancer(s)${plan.lb.vip ? '' : ' and no VIP'}`,
      `name the host instead: ${lbs.map((h) => h.name).join(', ')}`,
    );
  }
  const holder = await vipHolder(plan);
  if (!holder) {
    throw new TandemError(
      'TANDEM_STATE',
      `no load balancer holds the floating IP ${plan.lb.vip} right now`,
      'bring the stack up: tandem up (or tandem chaos heal)',
    );
  }
  return name === 'lb:active' ? holder : lbs.find((h) => h.name !== holder)!.name;
}

async function resolveDbLive(plan: Plan, name: string): Promise<string> {
  const roles = await liveDbRoles(plan);
  if (name === 'etcd:member') {
    const members = etcdServices(plan);
    const member = members.find((s) => s.host === roles.primary) ?? members[0];
    if (!member) throw unknown(plan, name);
    return member.id;
  }
  const host = dbHostOf(roles, name);
  if (!host) throw unknown(plan, name);
  if (name.endsWith('-host')) return host;
  const service = plan.services.find((s) => s.kind === 'mariadb' && s.host === host);
  if (!service) throw unknown(plan, name);
  return service.id;
}

/** The hosts a target lives on (a host; the host of a service). */
export function hostsOfTarget(plan: Plan, name: string): PlanHost[] {
  const target = resolveTarget(plan, name);
  const names = target.host ? [target.host] : target.services.map((s) => s.host);
  return plan.hosts.filter((h) => names.includes(h.name));
}

/** The hosts of a comma-separated group of targets (`lb:*` names already resolved). */
export function hostsOfGroup(plan: Plan, group: string): PlanHost[] {
  const names = new Set(
    group
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean)
      .flatMap((n) => hostsOfTarget(plan, n).map((h) => h.name)),
  );
  return plan.hosts.filter((h) => names.has(h.name));
}
