/**
 * The backup source process: `node src/backup/source-main.ts <config.json>`, supervised
 * beside each database (orchestrate/backup.ts writes the config). SIGTERM closes it.
 */
import fs from 'node:fs';
import { type BackupSourceConfig, buildSource, resumeAfterCrash } from './source.ts';

const file = process.argv[2];
if (!file) {
  console.error('usage: node src/backup/source-main.ts <config.json>');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(file, 'utf8')) as BackupSourceConfig;
const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
const server = buildSource(config, log);
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// The database may still be starting: retried each second until it answers.
const resume = () =>
  resumeAfterCrash(config, log).catch((err: Error) => {
    log(`cannot start the SQL thread yet: ${err.message}`);
    setTimeout(resume, 1000);
  });
void resume();
server.listen({ host: config.address, port: config.port }, () => log(`listening on ${config.address}:${config.port}`));
