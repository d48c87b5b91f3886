/** `tandem logs [HOST[/SERVICE]] [-f] [--since WHEN] [--json]`: prints what orchestrate/logs.ts reads. */
import { loadPlan } from '../orchestrate/config-loader.ts';
import { entryJson, formatEntry, parseSince } from '../orchestrate/log-lines.ts';
import { showLogs } from '../orchestrate/logs.ts';
import type { Args } from './args.ts';

export async function runLogs(args: Args, out: (text: string) => void): Promise<number> {
  const plan = await loadPlan(args.config);
  const since = args.since === undefined ? undefined : parseSince(args.since, Date.now());
  const width = Math.max(...plan.services.map((s) => s.id.length));
  // Ctrl-C ends a followed view normally (exit 0), after the lines read so far.
  const stop = new AbortController();
  const onInterrupt = () => stop.abort();
  process.once('SIGINT', onInterrupt);
  try {
    await showLogs(plan, {
      selector: args.rest[0],
      since,
      follow: args.follow,
      signal: stop.signal,
      write: (entries) => {
        if (entries.length > 0) out(entries.map((e) => (args.json ? entryJson(e) : formatEntry(e, width))).join('\n'));
      },
    });
  } finally {
    process.off('SIGINT', onInterrupt);
  }
  return 0;
}
