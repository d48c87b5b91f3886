/**
 * The sentinel process: `node --import tsx src/sentinel/main.ts <config.json>`.
 * SIGTERM stops it and gives the leader key up; a crash leaves the lease to expire.
 */
import { TandemError } from '../errors.ts';
import { loadSentinelConfig, type SentinelConfig } from './config.ts';
import { renderSentinelMetrics, serveSentinelMetrics } from './metrics.ts';
import { Sentinel } from './sentinel.ts';

const file = process.argv[2];
if (!file) {
  console.error('usage: node --import tsx src/sentinel/main.ts <config.json>');
  process.exit(2);
}
let sentinel: Sentinel;
let config: SentinelConfig;
try {
  config = loadSentinelConfig(file);
  sentinel = new Sentinel(config);
} catch (err) {
  console.error(err instanceof TandemError ? err.message : err);
  process.exit(1);
}
// With a monitor watching the stack: its private /metrics listener.
const metrics =
  config.metrics &&
  serveSentinelMetrics(
    config.metrics,
    () => renderSentinelMetrics(sentinel.state(), sentinel.counters()),
    (err) => console.log(JSON.stringify({ at: new Date().toISOString(), event: 'metrics-error', error: err.message })),
  );
const stop = () => {
  metrics?.close();
  void sentinel.stop().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await sentinel.run();
