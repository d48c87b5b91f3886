/** `tandem restore` (issue 10), from orchestrate/restore.ts: loaded on demand (it pulls in the MariaDB client). */
import readline from 'node:readline/promises';
import { TandemError } from '../errors.ts';
import { loadPlan } from '../orchestrate/config-loader.ts';
import { withStackLock } from '../orchestrate/lock.ts';
import {
  describeLoss,
  describePreview,
  type InPlaceResult,
  previewRestore,
  restoreInPlace,
  restoreInto,
} from '../orchestrate/restore.ts';
import type { Args } from './args.ts';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function formatInPlace(r: InPlaceResult): string {
  const fresh =
    'error' in r.backup
      ? `FAILED: ${r.backup.error} (take one with \`tandem backup --full\`)`
      : `${r.backup.id} (${r.backup.verification})`;
  return [
    `restored to GTID ${r.replay.gtid || '-'}: ${r.replay.transactions} archived transaction(s) replayed from ${r.replay.files} file(s)${r.replay.lastTime ? `, the last committed ${new Date(r.replay.lastTime * 1000).toISOString()}` : ''}`,
    `  time      ${seconds(r.ms.total)} in all: ${seconds(r.ms.build)} restoring and replaying (reads served), ${seconds(r.ms.swap)} swapping, ${seconds(r.ms.up)} starting the stack`,
    `  outage    ${seconds(r.outageMs)} without the databases (the site answered 503)`,
    `  left out  ${r.leftOut.transactions} archived transaction(s) after the point (the archive held up to ${r.leftOut.upTo || 'nothing'})`,
    `  new base  full backup ${fresh}`,
    ...r.keptAside.map((d) => `  kept      ${d}`),
  ].join('\n');
}

export async function runRestore(args: Args, out: (text: string) => void): Promise<number> {
  const plan = await loadPlan(args.config);
  const target = args.target!;
  const preview = await previewRestore(plan, target);
  if (args.dryRun) {
    out(args.json ? JSON.stringify(preview, null, 2) : `${describePreview(preview)}\n(dry run: nothing was changed)`);
    return 0;
  }
  if (args.into) {
    if (!args.json) out(describePreview(preview));
    const r = await restoreInto(plan, preview, args.into);
    out(
      args.json
        ? JSON.stringify(r, null, 2)
        : [
            `restored into ${r.data} in ${seconds(r.ms)}: GTID ${r.replay.gtid || '-'}, ${r.replay.transactions} archived transaction(s) replayed`,
            `  a scratch MariaDB runs on it (pid ${r.pid}, socket only): mariadb --socket=${r.socket} -uroot`,
            `  stop it with: kill ${r.pid}   (then remove ${args.into} when done)`,
          ].join('\n'),
    );
    return 0;
  }
  if (!args.yes) {
    if (!process.stdin.isTTY)
      throw new TandemError(
        'TANDEM_USAGE',
        `restore replaces the stack's data:\n${describeLoss(plan, preview)}`,
        'pass --yes to confirm',
      );
    out(`${describePreview(preview)}\n\n${describeLoss(plan, preview)}`);
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
    const answer = await rl.question(`Restore stack ${plan.name} in place? [y/N] `);
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) {
      out('tandem: nothing was changed.');
      return 1;
    }
  } else if (!args.json) out(describePreview(preview));
  const log = args.json ? () => {} : (line: string) => out(`… ${line}`);
  const r = await withStackLock(plan, { wait: args.wait, log: (m) => console.error(m) }, () =>
    restoreInPlace(plan, preview, log),
  );
  out(args.json ? JSON.stringify(r, null, 2) : formatInPlace(r));
  return 'error' in r.backup ? 1 : 0;
}
