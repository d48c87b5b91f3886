/**
 * dnsmasq 2.90 for the `client` namespace (netns hosting): answers the stack's zone —
 * the domain and its aliases → the VIP, host names → host addresses — and nothing else.
 * There are no upstream servers at all: this machine has no network, and a query for
 * any other name gets a fast "not found" instead of a timeout.
 */
import path from 'node:path';
import { servicePaths } from '../config/paths.ts';
import type { Plan, PlanService } from '../config/types.ts';
import { header } from './service.ts';

/** The dnsmasq service (in the client namespace); throws when the Plan has none. */
export function dnsmasqServiceFor(plan: Plan): PlanService {
  const service = plan.services.find((s) => s.kind === 'dnsmasq');
  if (!service) throw new Error(`the plan of ${plan.name} has no DNS server (dns needs netns hosting)`);
  return service;
}

/**
 * dnsmasq's own pid file. Not `servicePaths().pid`: the supervisor writes that one.
 * dnsmasq writes it as root, then drops to `nobody`, so it cannot remove it on exit; a
 * stale one is harmless (overwritten at the next start).
 */
export function dnsmasqPidFile(dataDir: string): string {
  return path.join(dataDir, 'dnsmasq.pid');
}

/** Full `dnsmasq.conf` for the client namespace. */
export function renderDnsmasq(plan: Plan): string {
  const service = dnsmasqServiceFor(plan);
  const paths = servicePaths(service);
  const lines = [
    header('#', `dnsmasq answering ${plan.domain} for the client of stack ${plan.name}`),
    // Only the client's own address, bound explicitly: no wildcard socket, no other
    // interface, and another dnsmasq on this machine (another namespace) never clashes.
    `listen-address=${service.address}`,
    'bind-interfaces',
    `port=${service.port}`,
    // No upstream: no /etc/resolv.conf, no /etc/hosts, nothing polled.
    'no-resolv',
    'no-hosts',
    'no-poll',
    'domain-needed',
    'bogus-priv',
    // Names under the domain are answered here or not at all.
    `local=/${plan.domain}/`,
    // host-record: exactly this name (address=/x/ would answer every subdomain too);
    // A records and the matching PTR.
    ...plan.dns.records.map((r) => `host-record=${r.name},${r.address}`),
    `pid-file=${dnsmasqPidFile(paths.data)}`,
    `log-facility=${paths.log}`,
    '',
  ];
  return lines.join('\n');
}
