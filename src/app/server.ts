/**
 * Entry point the supervisor runs (cwd = src/app): `node --import tsx server.ts`.
 * Configuration from the environment (see config.ts); SIGTERM drains and exits 0.
 */
import { buildAdmin } from './admin.ts';
import { buildApp } from './build.ts';
import { ConfigError, loadAppConfig } from './config.ts';
import { bufferedLogStream } from './log-stream.ts';

/** In-flight requests get this long after SIGTERM before the process gives up. */
const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadAppConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }

  const app = buildApp({
    host: config.host,
    ...(config.release ? { release: config.release } : {}),
    sessionSecret: config.sessionSecret,
    bodyLimit: config.bodyLimit,
    trustedProxies: config.trustedProxies,
    assets: config.assets,
    // One JSON line per request to stdout (the service's output.log); `host` instead of
    // pino's machine hostname, which every host of a stack shares.
    logger: { level: 'info', base: { host: config.host }, stream: bufferedLogStream(1) },
    db: {
      ...config.db,
      onEvent: (event) => process.stderr.write(`${JSON.stringify({ level: 'warn', time: Date.now(), db: event })}\n`),
    },
  });
  const admin = buildAdmin(app);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => {
      process.stderr.write(`shutdown took longer than ${SHUTDOWN_GRACE_MS} ms; exiting\n`);
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    // app.close() stops accepting, waits for in-flight requests, then closes the db (onClose).
    Promise.all([app.close(), admin.close()]).then(
      () => {
        process.stdout.write(`${config.host}: stopped on ${signal}\n`);
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`${config.host}: error while stopping: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  for (const [server, port] of [
    [app, config.port],
    [admin, config.adminPort],
  ] as const) {
    try {
      await server.listen({ host: config.address, port });
    } catch (err) {
      process.stderr.write(`${config.host}: cannot listen on ${config.address}:${port}: ${(err as Error).message}\n`);
      process.exit(1);
    }
  }
  process.stdout.write(
    `${config.host}: listening on http://${config.address}:${config.port}, ` +
      `health and metrics on http://${config.address}:${config.adminPort} (pid ${process.pid})\n`,
  );
}

await main();
