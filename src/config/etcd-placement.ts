/**
 * Where database failover's consensus store runs, and whether failover is on: pure
 * rules that validation, the schema's reference and resolve() share.
 */
import { DEFAULTS } from './defaults.ts';
import type { HostConfig, StackConfig } from './types.ts';

const isDb = (h: HostConfig) => Array.isArray(h.roles) && h.roles.includes('db');

/** Failover is on by default when the stack has a replica to promote. */
export function failoverOf(config: StackConfig): boolean {
  // Opt-in for now: the host-death and partition figures are not yet within their goals
  // (RELIABILITY.md), and it adds three etcd members and two sentinels to the stack.
  return config.database?.failover ?? false;
}

/**
 * The default etcd members: three distinct hosts (fewer only when the stack has fewer),
 * the db hosts first, then app/web hosts, then load balancers, then a monitor-only host, each group in config
 * order. Three members keep a quorum through the death of any one host, the primary's
 * included; the db hosts come first because the sentinels beside them are the clients.
 */
export function defaultEtcdHosts(hosts: readonly HostConfig[]): string[] {
  const has = (h: HostConfig, roles: readonly string[]) =>
    Array.isArray(h.roles) && h.roles.some((r) => roles.includes(r));
  // A host that only monitors comes last: the stack's own hosts keep the places they had.
  const rank = (h: HostConfig) => (isDb(h) ? 0 : has(h, ['app', 'web']) ? 1 : has(h, ['lb']) ? 2 : 3);
  return [...hosts]
    .sort((a, b) => rank(a) - rank(b))
    .slice(0, DEFAULTS.etcd.members)
    .map((h) => h.name);
}
