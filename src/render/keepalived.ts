/**
 * keepalived 2.2 for one load-balancer host (netns hosting): VRRPv3, unicast between
 * the LBs, holding the Plan's floating IP. The VIP follows the LB whose HAProxy is alive.
 *
 * How HAProxy is tracked, and why keepalived joins its namespace itself:
 * `vrrp_track_process` learns of process exits from the kernel's proc connector, which
 * only exists in the initial network namespace. Started with `ip netns exec`, keepalived
 * logs "Failed to set/clear process event listen - errno 111" and the instance sits in
 * FAULT. Started in the root namespace with `--namespace` (engines/keepalived.ts), it
 * opens the proc connector first and then moves into the LB's namespace: exits are seen
 * at once (measured: the VIP is on the other LB ~80 ms after `kill -9` of the active
 * HAProxy). A `vrrp_script` is no alternative: 2.2.7 takes whole seconds as its interval.
 * The namespace is not named here (`net_namespace`): with one in the file, `keepalived
 * -t` stops reporting errors and exits 0 on a broken file.
 * Namespaces share one PID space, so the tracked process is matched on HAProxy's own
 * command line, config path included, never on the bare name `haproxy`.
 */
import path from 'node:path';
import { servicePaths } from '../config/paths.ts';
import type { Plan, PlanService } from '../config/types.ts';
import { haproxyEngine } from '../engines/haproxy.ts';
import { header, serviceOn } from './service.ts';

/** Name of the one VRRP instance (keepalived's logs and `tandem status` use it). */
export const VRRP_INSTANCE = 'vip';

/** With a monitor host: keepalived runs this script (render/exporters.ts) at every VRRP state change. */
export function vrrpNotifyScript(keepalivedDir: string): string {
  return path.join(keepalivedDir, 'vrrp-notify.sh');
}

/** Name of the tracked-process block that follows this host's HAProxy. */
const TRACK_HAPROXY = 'haproxy';

/**
 * A new HAProxy (restarted by its supervisor) counts as up only after this long, so it
 * has bound its sockets before this LB may take the VIP again.
 */
const HAPROXY_FORK_DELAY_S = 0.5;

/** The keepalived service on `hostName`; throws when that host is not a load balancer. */
export function keepalivedServiceFor(plan: Plan, hostName: string): PlanService {
  return serviceOn(plan, hostName, 'keepalived').service;
}

/** keepalived splits on unquoted spaces; a quoted word is one element. */
function word(text: string): string {
  return /[\s"']/.test(text) ? `"${text.replace(/"/g, '\\"')}"` : text;
}

/** 100 → "0.1": VRRPv3 counts adverts in centiseconds, keepalived takes seconds. */
function seconds(ms: number): string {
  return String(ms / 1000);
}

/** Full `keepalived.conf` for the load balancer `lbHostName`. */
export function renderKeepalived(plan: Plan, lbHostName: string): string {
  const { host, service } = serviceOn(plan, lbHostName, 'keepalived');
  const { vip, vrrp } = plan.lb;
  if (!vip || !vrrp || !host.namespace)
    throw new Error(`keepalived needs netns hosting: the plan of ${plan.name} has no floating IP`);
  const priority = vrrp.priorities[host.name];
  if (priority === undefined) throw new Error(`the plan gives ${host.name} no VRRP priority`);
  const peers = plan.hosts.filter((h) => h.roles.includes('lb') && h.name !== host.name).map((h) => h.address);
  const haproxy = serviceOn(plan, host.name, 'haproxy').service;
  const haproxyArgv = haproxyEngine.runCommand(servicePaths(haproxy));
  const dev = plan.network.hostInterface;

  const lines = [
    header('#', `keepalived for ${host.name} (${host.address}) of stack ${plan.name}`),
    // Runs in namespace ${host.namespace}, entered by keepalived itself (--namespace).
    `# namespace ${host.namespace}`,
    '',
    'global_defs {',
    `    router_id tandem-${plan.name}-${host.name}`,
    // tandem runs keepalived as root; any script must then live on a root-owned path.
    '    script_user root',
    '    enable_script_security',
    '    vrrp_version 3',
    // No vrrp_strict: it forbids unicast peers and adds drop rules for the VIP.
    // On becoming master: 3 gratuitous ARPs at once, 3 more a second later, then one
    // every second, so the client's ARP cache follows the VIP within one advert or so.
    '    vrrp_garp_master_repeat 3',
    '    vrrp_garp_master_delay 1',
    '    vrrp_garp_master_refresh 1',
    '    vrrp_garp_master_refresh_repeat 1',
    '    vrrp_garp_lower_prio_repeat 3',
    // After a split (both master), the one that yields re-announces, so ARP settles.
    '    vrrp_higher_prio_send_advert true',
    // Adverts every 100 ms leave little slack on a busy 2-core machine: run the VRRP
    // process at the top nice level, and let it go realtime when it finds itself late.
    '    vrrp_priority -20',
    '    max_auto_priority 10',
    '    min_auto_priority_delay 20000',
    '}',
    '',
    // Matches this host's HAProxy master by its command line (`partial`: a reload re-execs
    // it with `-x`/`-sf` appended). `weight 0`: without it, the instance goes to FAULT and
    // gives the VIP up at once.
    `vrrp_track_process ${TRACK_HAPROXY} {`,
    `    process ${haproxyArgv.map(word).join(' ')}`,
    '    param_match partial',
    '    quorum 1',
    '    weight 0',
    // No terminate_delay: a dead HAProxy gives the VIP up at once.
    `    fork_delay ${HAPROXY_FORK_DELAY_S}`,
    '}',
    '',
    `vrrp_instance ${VRRP_INSTANCE} {`,
    // Both start as BACKUP: keepalived honours nopreempt only then; the priority decides.
    '    state BACKUP',
    ...(vrrp.preempt ? [] : ['    nopreempt']),
    `    interface ${dev}`,
    `    virtual_router_id ${vrrp.routerId}`,
    `    priority ${priority}`,
    `    advert_int ${seconds(vrrp.advertIntervalMs)}`,
    // A single LB has no peer: it holds the VIP alone (its adverts go to nobody).
    ...(peers.length === 0
      ? []
      : [
          `    unicast_src_ip ${host.address}`,
          '    unicast_peer {',
          ...peers.map((p) => `        ${p}`),
          '    }',
          // Adverts from anyone but the peers are ignored.
          '    check_unicast_src',
        ]),
    '    virtual_ipaddress {',
    `        ${vip}/${plan.network.prefixLength} dev ${dev}`,
    '    }',
    '    track_process {',
    `        ${TRACK_HAPROXY}`,
    '    }',
    // Through /bin/sh: enable_script_security refuses a script under a folder others may
    // write to (the state folder may sit in /tmp); keepalived appends the new state.
    ...(plan.monitor ? [`    notify ${word(`/bin/sh ${vrrpNotifyScript(service.dir)}`)}`] : []),
    '}',
    '',
  ];
  return lines.join('\n');
}
