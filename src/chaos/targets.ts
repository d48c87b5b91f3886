/**
 * Fault targets named the user's way, resolved against the Plan:
 *   `server-1`          every service of a host
 *   `server-1/app`      one service (kinds: haproxy, nginx, app, mariadb; aliases lb, web, db)
 *   `db:primary`        the primary's MariaDB
 *   `db:replica`        the first replica's MariaDB (`db:replica-2` for the second)
 */
import type { Plan, PlanService, ServiceKind } from '../config/types.ts';
import { TandemError } from '../errors.ts';

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
};

/** The names `resolveTarget` accepts for this plan, for error messages and `chaos targets`. */
export function targetNames(plan: Plan): string[] {
  const names = plan.hosts.map((h) => h.name);
  names.push(...plan.services.map((s) => s.id));
  if (plan.db.primary) names.push('db:primary');
  if (plan.db.replicas.length > 0) names.push('db:replica');
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

export function resolveTarget(plan: Plan, name: string): Target {
  if (name === 'db:primary') return dbTarget(plan, name, plan.db.primary || undefined);
  const replica = /^db:replica(?:-(\d+))?$/.exec(name);
  if (replica) return dbTarget(plan, name, plan.db.replicas[Number(replica[1] ?? 1) - 1]);
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
