/** `tandem deploy`, `tandem rollback` and `tandem releases` (issue 11). */
import path from 'node:path';
import { loadPlan } from '../orchestrate/config-loader.ts';
import { type DeployResult, deploy, rollback } from '../orchestrate/deploy.ts';
import { releasesReport } from '../orchestrate/release-list.ts';
import type { Emit } from '../orchestrate/events.ts';
import { withStackLock } from '../orchestrate/lock.ts';
import type { Args } from './args.ts';

type Out = (text: string) => void;

function formatResult(r: DeployResult, what: string): string {
  const hosts = r.hosts.map((h) => `${h.host} ${h.from ?? '(no release)'} → ${h.to} in ${(h.ms / 1000).toFixed(1)} s`);
  return [
    `tandem: ${what} ${r.release} on every server in ${(r.ms / 1000).toFixed(1)} s${hosts.length === 0 ? ' (it ran everywhere already)' : ''}`,
    ...hosts.map((h) => `  ${h}`),
    ...(r.pruned.length > 0 ? [`  removed old releases: ${r.pruned.join(', ')}`] : []),
  ].join('\n');
}

export async function runDeploy(
  args: Args,
  ctx: { emit: Emit; lock: Parameters<typeof withStackLock>[1] },
  out: Out,
): Promise<number> {
  const plan = await loadPlan(args.config);
  if (args.command === 'releases') {
    const report = releasesReport(plan);
    if (args.json) {
      out(JSON.stringify(report, null, 2));
      return 0;
    }
    if (report.releases.length === 0) out('no releases yet: `tandem deploy` makes one');
    for (const r of report.releases) {
      const where = [
        ...(r.runningOn.length > 0 ? [`runs on ${r.runningOn.join(', ')}`] : []),
        ...(r.previousOn.length > 0 ? [`previous on ${r.previousOn.join(', ')}`] : []),
      ];
      out(`${r.id}  ${r.createdAt}  ${r.source}${where.length > 0 ? `  (${where.join('; ')})` : ''}`);
    }
    for (const h of report.hosts)
      out(`${h.host}: ${h.release ?? 'no release (the code base as `up` started it)'} in slot ${h.slot}`);
    return 0;
  }
  const result = await withStackLock(plan, ctx.lock, () =>
    args.command === 'rollback'
      ? rollback(plan, { emit: ctx.emit, ...(args.parallel ? { parallel: true } : {}) })
      : deploy(plan, {
          ...(args.code ? { code: path.resolve(args.code) } : {}),
          ...(args.parallel ? { parallel: true } : {}),
          emit: ctx.emit,
        }),
  );
  out(
    args.json
      ? JSON.stringify(result, null, 2)
      : formatResult(result, args.command === 'rollback' ? 'rolled back to' : 'deployed'),
  );
  return 0;
}
