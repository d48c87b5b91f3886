/**
 * The chaos load as its own process, for netns hosting: started inside the `client`
 * namespace (src/hosts/worker.ts) so that it reaches the site as a user does, through
 * the stack's DNS, the VIP and HTTPS. Prints each operation as one JSON line the moment
 * it completes, after `{"started":T}` and before `{"done":N}`. SIGTERM stops it early; it still prints what it has.
 *   node --import tsx traffic-worker.ts '<LoadOptions as JSON>'
 */
import { type LoadOptions, runLoad } from './traffic.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as Omit<LoadOptions, 'signal' | 'onOp'>;
const abort = new AbortController();
process.on('SIGTERM', () => abort.abort());
process.stdout.write(`${JSON.stringify({ started: Date.now() })}\n`);
const ops = await runLoad({
  ...options,
  signal: abort.signal,
  onOp: (op) => process.stdout.write(`${JSON.stringify(op)}\n`),
});
process.stdout.write(`${JSON.stringify({ done: ops.length })}\n`);
