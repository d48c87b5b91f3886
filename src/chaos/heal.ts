/**
 * Undoing faults: SIGCONT what was paused, `up()` what was killed for good, links up,
 * partitions and slow links removed; a sweep for chaos leftovers nothing recorded; and
 * `healAll`, which also restarts a database the fault left hung (see hung.ts).
 */
import { servicePaths } from '../config/paths.ts';
import type { Plan, PlanHost, PlanService } from '../config/types.ts';
import { setLink } from '../hosts/netns.ts';
import { runNetworkCommand } from '../hosts/network-command.ts';
import { TandemError } from '../errors.ts';
import { loadOrCreateSecrets } from '../hosts/secrets.ts';
import { killService, resumeProcesses } from '../hosts/signals.ts';
import { readSupervisor, reapOrphan, startSupervised } from '../hosts/supervise.ts';
import { unitOf } from '../orchestrate/services.ts';
import type { Emit } from '../orchestrate/events.ts';
import { up } from '../orchestrate/up.ts';
import { hungDatabases, HUNG_AFTER_MS } from './hung.ts';
import { hostNamed } from './inject.ts';
import { type ActiveFault, type HealRecord, networkFaultsSupported } from './model.ts';
import { nftDeleteCommand, nftListCommand, qdiscDeleteCommand, qdiscShowCommand } from './network.ts';
import { failoverEnabled } from './scenarios.ts';
import { readActive, writeActive } from './store.ts';

/** Removes the chaos table from the host (false: there was none). */
async function removePartition(host: PlanHost): Promise<boolean> {
  return (await runNetworkCommand(host, nftDeleteCommand(), { allowFail: true })).ok;
}

/** Removes the rate limit from both ends of the host's link (false: there was none). */
async function removeSlowLink(plan: Plan, host: PlanHost): Promise<boolean> {
  const inside = await runNetworkCommand(host, qdiscShowCommand(plan.network.hostInterface), { allowFail: true });
  const outside = await runNetworkCommand(null, qdiscShowCommand(host.link!), { allowFail: true });
  let removed = false;
  if (inside.stdout.includes('tbf'))
    removed = (await runNetworkCommand(host, qdiscDeleteCommand(plan.network.hostInterface), { allowFail: true })).ok;
  if (outside.stdout.includes('tbf'))
    removed = (await runNetworkCommand(null, qdiscDeleteCommand(host.link!), { allowFail: true })).ok || removed;
  return removed;
}

/**
 * A host coming back after its death: the VIP its killed keepalived left configured
 * goes first (a rebooted machine holds no address it was not given), then the link.
 */
async function reviveLink(plan: Plan, host: PlanHost): Promise<void> {
  if (host.roles.includes('lb') && plan.lb.vip) {
    await runNetworkCommand(
      host,
      ['/usr/sbin/ip', 'addr', 'del', `${plan.lb.vip}/${plan.network.prefixLength}`, 'dev', plan.network.hostInterface],
      { allowFail: true },
    );
  }
  await setLink(host, true);
}

/** The fault's own undo, without `up()`. Returns what was done. */
async function undo(plan: Plan, fault: ActiveFault): Promise<string> {
  if (fault.kind === 'pause') return `resumed ${resumeProcesses(fault.processes).length} process(es)`;
  if (fault.partition) {
    for (const name of fault.partition.hosts) await removePartition(hostNamed(plan, name));
    return `partition removed from ${fault.partition.hosts.join(', ')}`;
  }
  if (fault.slow) {
    await removeSlowLink(plan, hostNamed(plan, fault.slow.host));
    return `${fault.slow.host}'s link at full speed again`;
  }
  for (const name of fault.linksDown ?? []) await reviveLink(plan, hostNamed(plan, name));
  if (fault.stayDown) return `${fault.linksDown?.length ? 'link up, ' : ''}tandem up brought it back`;
  return 'the supervisor restarts it';
}

/**
 * Under the sentinels, a killed service (not a whole host) comes back as on a rebooted
 * machine: its supervisor starts it, and its sentinel makes it rejoin. Nothing needs
 * `up()`, whose checks of the whole stack take seconds and load the machine while the
 * scenario runs (flap's next round would wait for them).
 */
function returnsByItself(plan: Plan, fault: ActiveFault): boolean {
  return failoverEnabled(plan) && !fault.linksDown?.length && fault.processes.length > 0;
}

/** Starts the supervisor of each service the fault killed again (without waiting for it to be ready). */
async function restartKilled(plan: Plan, fault: ActiveFault): Promise<string> {
  const { secrets } = loadOrCreateSecrets(plan.secretsFile);
  const ids = [...new Set(fault.processes.map((p) => p.service))];
  for (const service of plan.services.filter((s) => ids.includes(s.id))) {
    const unit = unitOf(plan, service, secrets);
    if (readSupervisor(unit.paths)) continue;
    reapOrphan(unit.paths);
    await startSupervised(unit.paths, unit.spec);
  }
  return `${ids.join(', ')} started again by ${ids.length === 1 ? 'its supervisor' : 'their supervisors'}`;
}

/**
 * Undoes one fault quickly, without touching the rest of the stack: SIGCONT for a
 * pause; the drop rules or rate limit removed; link up and `up()` for a kill-host
 * (nothing else would restart it; under the sentinels, a killed service's supervisor
 * alone); nothing for a plain kill (the supervisor restarts it).
 */
export async function heal(
  plan: Plan,
  fault: ActiveFault,
  opts: { emit?: Emit; now?: () => number } = {},
): Promise<HealRecord> {
  const now = opts.now ?? Date.now;
  const at = now();
  let detail = await undo(plan, fault);
  if (fault.stayDown && returnsByItself(plan, fault)) detail = await restartKilled(plan, fault);
  else if (fault.stayDown) await up(plan, { emit: opts.emit });
  writeActive(
    plan,
    readActive(plan).filter((f) => f.id !== fault.id),
  );
  return { faultId: fault.id, at, doneAt: now(), detail };
}

/**
 * netns: whatever chaos may have left that active.json does not know of (a run killed
 * between injecting and recording): chaos tables and rate limits on every host.
 */
async function sweepNetwork(plan: Plan): Promise<void> {
  if (!networkFaultsSupported(plan)) return;
  for (const host of plan.hosts) {
    if (!host.namespace) continue;
    // Skip a namespace that is not there (the stack is down): nothing to sweep.
    const listed = await runNetworkCommand(host, nftListCommand(), { allowFail: true });
    if (listed.ok) await removePartition(host);
    await removeSlowLink(plan, host);
  }
}

/**
 * Heals every recorded fault (also ones injected by another process), then runs
 * `up()` so that the whole stack is back in its declared state (links up, every
 * service running) and the LB sees every server. A database left hung by the fault
 * (see `hungDatabases`) is killed so that its supervisor restarts it, and the heal
 * says so: that is a finding, not part of the undo.
 */
export async function healAll(plan: Plan, opts: { emit?: Emit; now?: () => number } = {}): Promise<HealRecord[]> {
  const now = opts.now ?? Date.now;
  const undone: { fault: ActiveFault; at: number; detail: string }[] = [];
  const active = readActive(plan);
  for (const fault of active) {
    const at = now();
    undone.push({ fault, at, detail: await undo(plan, fault) });
  }
  await sweepNetwork(plan);
  // After a partition, watch long enough for the replica to reconnect (MASTER_CONNECT_RETRY=1).
  const watchMs = active.some((f) => f.partition) ? 8000 : 0;
  const restarted: HealRecord[] = [];
  // A database the fault left stuck: kill -9, and its supervisor restarts it. A finding.
  const restart = (service: PlanService, why: string) => {
    const at = now();
    killService(servicePaths(service), { withSupervisor: false });
    restarted.push({
      faultId: `hung:${service.id}`,
      at,
      doneAt: now(),
      detail: `${service.id} ${why} after the faults were undone: killed -9, its supervisor restarts it`,
    });
  };
  for (const service of await hungDatabases(plan, watchMs)) {
    restart(service, `answered nothing for ${HUNG_AFTER_MS / 1000} s (hung)`);
  }
  try {
    await up(plan, { emit: opts.emit });
  } catch (err) {
    // The same MariaDB defect in its other form: the primary answers queries, but the
    // replica's new dump thread waits behind the old one for good, so no replica can
    // register for semi-sync. Only a restart of the primary clears it; then up again.
    if (!(err instanceof TandemError && /^semi-sync: no replica acknowledged/.test(err.message))) throw err;
    const primary = plan.services.find((s) => s.kind === 'mariadb' && s.host === plan.db.primary)!;
    restart(primary, 'let no replica register for semi-sync (a stuck dump thread)');
    await up(plan, { emit: opts.emit });
  }
  writeActive(plan, []);
  const doneAt = now();
  return [...undone.map(({ fault, at, detail }) => ({ faultId: fault.id, at, doneAt, detail })), ...restarted];
}
