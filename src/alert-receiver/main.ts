/**
 * The alert receiver process: `node src/alert-receiver/main.ts <config.json>`, supervised
 * on the monitor host (orchestrate/alert-receiver.ts writes the config). Listens on the
 * monitor's own address; SIGTERM closes it.
 */
import fs from 'node:fs';
import { NotificationLog } from './record.ts';
import { buildReceiver, type ReceiverConfig } from './server.ts';

const file = process.argv[2];
if (!file) {
  console.error('usage: node src/alert-receiver/main.ts <config.json>');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(file, 'utf8')) as ReceiverConfig;
const app = buildReceiver({
  record: new NotificationLog(config.recordFile, config.maxRecords),
  path: config.path,
  bodyLimit: config.bodyLimit,
});
const stop = () => {
  void app.close().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await app.listen({ host: config.address, port: config.port });
console.log(`${new Date().toISOString()} listening on ${config.address}:${config.port}${config.path}`);
