/**
 * Runs a bounded load from wherever it is started (e.g. inside the client namespace
 * with `ip netns exec`) and prints the outcomes as one JSON document on stdout.
 *   node --import tsx load-cli.ts '{"url": "...", "host": "...", "paths": ["/"], ...}'
 * HTTPS trusts the CA named by NODE_EXTRA_CA_CERTS.
 */
import { runLoad } from './load.ts';

const opts = JSON.parse(process.argv[2] ?? '{}');
const outcomes = await runLoad(opts);
process.stdout.write(JSON.stringify(outcomes));
