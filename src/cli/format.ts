/** Formatters: one per event kind, and the status table. Pure strings. */
import { table } from '../text.ts';
import type { StackEvent } from '../orchestrate/events.ts';
import type { StackStatus } from '../orchestrate/status.ts';
import type { ReseedRecord } from '../sentinel/reseed-plan.ts';

const secs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${ms}ms`);

export function formatEvent(e: StackEvent): string | undefined {
  if (e.kind === 'note') return `  · ${e.message}`;
  switch (e.status) {
    case 'start':
      return undefined;
    case 'done':
      return `  ${e.changed ? '✓' : '='} ${e.step.padEnd(34)} ${e.detail ?? (e.changed ? 'changed' : 'unchanged')} (${secs(e.ms)})`;
    case 'failed':
      return `  ✗ ${e.step.padEnd(34)} failed after ${secs(e.ms)}`;
  }
}

/** The last backup and its drill, or that nothing backs the stack up (issue 10). */
export function backupLine(b: StackStatus['backup']): string {
  if (!b) return "backups: none — nothing backs this stack up (give a host the 'monitor' role or set backup.host)";
  if (!b.last) return `backups: on ${b.host}, none taken yet (\`tandem backup\`)`;
  const l = b.last;
  const verdict =
    l.verification === 'verified'
      ? `verified by its drill (${l.drill?.ms ?? '-'} ms)`
      : l.verification === 'failed'
        ? `FAILED: ${l.failure ?? 'no reason recorded'}`
        : 'drill under way';
  const older = l.verification !== 'verified' && b.lastVerified ? `; last verified ${b.lastVerified.id}` : '';
  return `backups: on ${b.host}, ${b.count} stored; last ${l.id} (${l.kind} from ${l.source.host}, GTID ${l.gtid || '-'}) ${verdict}${older}`;
}

export function formatStatus(s: StackStatus): string {
  const rows = [['HOST', 'ADDRESS', 'SERVICE', 'STATE', 'PID', 'RESTARTS']];
  for (const h of s.hosts) {
    for (const svc of h.services) {
      rows.push([
        h.name,
        svc.port ? `${svc.address}:${svc.port}` : svc.address,
        svc.kind,
        svc.state,
        String(svc.pid ?? '-'),
        String(svc.restarts) + (svc.livenessRestarts ? ` (${svc.livenessRestarts.count} hung)` : ''),
      ]);
    }
  }
  const lines = [`stack ${s.name} (${s.hosting})  ${s.url}`, '', table(rows), ''];
  for (const svc of s.hosts.flatMap((h) => h.services)) {
    const hung = svc.livenessRestarts;
    if (hung) lines.push(`${svc.id} last restarted as hung at ${hung.lastAt}: ${hung.lastReason}`);
  }
  lines.push(
    s.monitor
      ? `monitor: ${s.monitor.host}, Prometheus ${s.monitor.prometheus}, Alertmanager ${s.monitor.alertmanager}`
      : "monitor: none — nothing watches this stack (give a host the 'monitor' role)",
  );
  lines.push(backupLine(s.backup));
  if (s.lb.vip) lines.push(`floating IP: ${s.lb.vip.address} held by ${s.lb.vip.holder ?? 'NO load balancer'}`);
  if (s.lb.backends.length > 0) {
    const byLb = new Map<string, string[]>();
    for (const b of s.lb.backends) byLb.set(b.lb, [...(byLb.get(b.lb) ?? []), `${b.server} ${b.status}`]);
    for (const [lb, servers] of byLb) lines.push(`load balancer ${lb}: ${servers.join(', ')}`);
  } else lines.push('load balancer: not answering');
  const lag = s.db.replication.lagTransactions;
  lines.push(
    `database: primary ${s.db.primary}; replication ${s.db.replication.running ? 'running' : 'NOT running'}` +
      (lag === null ? '' : `, lag ${lag} transaction(s)`),
  );
  for (const i of s.db.instances) {
    const extra = i.up
      ? `gtid ${i.gtid || '-'}${i.readOnly ? ', read_only' : ''}${i.semiSyncLive === undefined ? (i.semiSync ? ', semi-sync' : '') : i.semiSyncLive ? ', semi-sync ON' : ', semi-sync OFF (commits unacknowledged)'}${i.replication?.lastError ? `, error: ${i.replication.lastError}` : ''}`
      : 'down';
    lines.push(`  ${i.host.padEnd(10)} ${i.role.padEnd(8)} ${extra}`);
  }
  lines.push(...archiveLines(s));
  const f = s.db.failover;
  if (f) {
    lines.push(
      f.error
        ? `failover: etcd unreadable (${f.error})`
        : `failover: leader ${f.leader ?? 'NONE'}${f.term === null ? '' : ` (term ${f.term})`}; eligible replica ${f.eligible ?? 'NONE (no replica known to hold every acknowledged write)'}`,
    );
    for (const x of f.sentinels) {
      const notes = [
        x.fenced && `fenced ${x.fenced}`,
        x.diverged && `DIVERGED: ${x.diverged}`,
        x.reseed && reseedNote(x.reseed),
        x.notPromoted && `not promoted: ${x.notPromoted}`,
      ]
        .filter(Boolean)
        .join('; ');
      lines.push(
        `  sentinel ${x.host.padEnd(10)} ${(x.role ?? 'no state').padEnd(8)} ${x.etcdOk === false ? 'etcd unreachable ' : ''}${notes}`,
      );
    }
  }
  if (s.etcd) {
    lines.push(
      `etcd: ${s.etcd.leader ? `leader ${s.etcd.leader}, raft term ${s.etcd.raftTerm}` : 'NO leader (no quorum, or no member answers)'}`,
    );
    for (const m of s.etcd.members)
      lines.push(
        `  ${m.name.padEnd(10)} ${m.address.padEnd(15)} ${m.healthy ? (m.leader ? 'leader' : 'follower') : 'unhealthy'}`,
      );
  }
  return lines.join('\n');
}

/** One line on a database's last reseed: under way, done (where its diverged binlogs are), or failed (why). */
export function reseedNote(r: ReseedRecord): string {
  const at = new Date(r.startedAt).toISOString();
  if (r.state === 'done')
    return `reseeded from ${r.from} at ${at} in ${r.ms} ms (GTID ${r.gtid || '-'}); diverged binlogs kept in ${r.keptAside}`;
  if (r.state === 'failed')
    return `RESEED FAILED at ${at} (from ${r.from}): ${r.error}; read-only and out of service${r.keptAside ? `; diverged binlogs kept in ${r.keptAside}` : ''}`;
  return `reseeding from ${r.from} since ${at}: ${r.state}`;
}

/** The binlog archive: what it follows, how far it got, and the recovery point at risk. */
function archiveLines(s: StackStatus): string[] {
  const a = s.archive;
  if (!a) return [];
  const st = a.state;
  if (!st) return [`binlog archive on ${a.host}: no report yet`];
  const stale =
    a.updatedAgoMs !== null && a.updatedAgoMs > 5000 ? ` (report ${Math.round(a.updatedAgoMs / 1000)} s old)` : '';
  return [
    `binlog archive on ${a.host}: ${st.streaming ? `following ${st.following}` : 'NOT streaming'}; last archived ${st.lastGtid ?? 'none'}; ` +
      `behind the primary ${st.behindTransactions ?? '?'} transaction(s), ${st.lagSeconds ?? '?'} s at risk${stale}` +
      (st.holes > 0 ? `; ${st.holes} HOLE(S) in the GTID sequence` : '') +
      (st.lastError && !st.streaming ? `; ${st.lastError}` : ''),
  ];
}
