/**
 * The app alone for the request-log bench (app-log.ts): `buildApp` as server.ts builds
 * it, with its request log on (one JSON line per request into `logFile`, through the same
 * buffered stream) or off (errors only, the factory's default). No database: /whoami needs
 * none. Prints `listening` once it listens; SIGTERM ends it.
 *
 *   node --import tsx bench/app-log-server.ts <address> <port> on|off <logFile>
 */
import fs from 'node:fs';
import { buildApp } from '../src/app/build.ts';
import { bufferedLogStream } from '../src/app/log-stream.ts';

const [address, port, mode, logFile] = process.argv.slice(2);
const logger =
  mode === 'on'
    ? { level: 'info', base: { host: 'server-1' }, stream: bufferedLogStream(fs.openSync(logFile!, 'a')) }
    : { level: 'error' };
const app = buildApp({
  host: 'server-1',
  sessionSecret: 'bench-secret-0123456789abcdef',
  logger,
  db: { primary: { host: '127.0.0.1', port: 1 }, replicas: [], user: 'u', password: 'p', database: 'd' },
});
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
await app.listen({ host: address, port: Number(port) });
console.log('listening');
