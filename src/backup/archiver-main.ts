/**
 * The binlog archiver process: `node src/backup/archiver-main.ts <archiver.json>`,
 * supervised on the backup host (orchestrate/binlog-archiver.ts writes the config).
 * SIGTERM stops its mariadb-binlog stream and saves the index.
 */
import fs from 'node:fs';
import { Archiver } from './archiver.ts';
import type { ArchiverConfig } from './archiver-config.ts';

const file = process.argv[2];
if (!file) {
  console.error('usage: node src/backup/archiver-main.ts <archiver.json>');
  process.exit(2);
}
const archiver = new Archiver(JSON.parse(fs.readFileSync(file, 'utf8')) as ArchiverConfig);
const stop = () => {
  void archiver.stop().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await archiver.start();
