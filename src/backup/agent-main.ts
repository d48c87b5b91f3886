/**
 * The backup agent process: `node src/backup/agent-main.ts <config.json>`, supervised on
 * the backup host (orchestrate/backup.ts writes the config). SIGTERM closes it.
 */
import fs from 'node:fs';
import { backupToken } from './auth.ts';
import { backupKeyFrom } from './crypt.ts';
import { buildAgent, readKey } from './agent.ts';
import { stopScratchServers } from './drill.ts';
import { failInterrupted } from './store.ts';
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
for (const id of failInterrupted(config.dir)) log(`${id}: failed: the agent stopped before its drill ended`);
const stop = () => {
  // A drill's scratch mariadbd is this process's child: it ends with the agent.
  void stopScratchServers().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
server.listen({ host: config.address, port: config.port }, () => {
  log(`listening on ${config.address}:${config.port}`);
  schedule();
});
