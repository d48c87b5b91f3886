/**
 * The backup agent process: `node src/backup/agent-main.ts <config.json>`, supervised on
 * the backup host (orchestrate/backup.ts writes the config). SIGTERM closes it.
 */
import fs from 'node:fs';
import { backupToken } from './auth.ts';
import { backupKeyFrom } from './crypt.ts';
import { buildAgent, readKey } from './agent.ts';
import type { BackupAgentConfig } from './take.ts';

const file = process.argv[2];
if (!file) {
  console.error('usage: node src/backup/agent-main.ts <config.json>');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(file, 'utf8')) as BackupAgentConfig;
const secret = readKey(config.keyFile);
const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
const { server, schedule } = buildAgent({ config, key: backupKeyFrom(secret), token: backupToken(secret), log });
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
server.listen({ host: config.address, port: config.port }, () => {
  log(`listening on ${config.address}:${config.port}`);
  schedule();
});
