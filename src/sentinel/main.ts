/**
 * The sentinel process: `node --import tsx src/sentinel/main.ts <config.json>`.
 * SIGTERM stops it and gives the leader key up; a crash leaves the lease to expire.
 */
import { TandemError } from '../errors.ts';
import { loadSentinelConfig } from './config.ts';
import { Sentinel } from './sentinel.ts';

const file = process.argv[2];
if (!file) {
  console.error('usage: node --import tsx src/sentinel/main.ts <config.json>');
  process.exit(2);
}
let sentinel: Sentinel;
try {
  sentinel = new Sentinel(loadSentinelConfig(file));
} catch (err) {
  console.error(err instanceof TandemError ? err.message : err);
  process.exit(1);
}
const stop = () => {
  void sentinel.stop().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await sentinel.run();
