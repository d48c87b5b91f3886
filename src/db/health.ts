/**
 * `db.health()`: a bounded `SELECT 1` on every server over its health connections. The
 * answer also moves replicas in and out of the read rotation.
 */
import type { PoolConnection } from 'mysql2/promise';
import type { Server } from './connections.ts';
import { DbTimeoutError } from './errors.ts';
import type { ReplicaSet } from './replica-set.ts';
import type { DbHealth } from './types.ts';

/** `SELECT 1` on a health connection, bounded by `timeoutMs` from start to answer. Returns the error, if any. */
export async function ping(server: Server, timeoutMs: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  let conn: PoolConnection | undefined;
  let timedOut = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(
        new DbTimeoutError(`database ${server.name} did not answer a ping within ${timeoutMs} ms`, {
          server: server.name,
        }),
      );
    }, timeoutMs);
  });
  const attempt = (async () => {
    const c = await server.healthPool.getConnection();
    // A connection handed over after the deadline is given back at once.
    if (timedOut) return void c.release();
    conn = c;
    await c.query('SELECT 1');
  })();
  try {
    await Promise.race([attempt, deadline]);
    conn?.release();
    return undefined;
  } catch (err) {
    // Its state is unknown (maybe still waiting for the answer): never reuse it.
    conn?.destroy();
    attempt.catch(() => {});
    return err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
  }
}

/** Pings every server; a replica that fails the ping is ejected, one that answers is restored. */
export async function checkHealth(primary: Server, replicas: ReplicaSet<Server>, timeoutMs: number): Promise<DbHealth> {
  const servers = [primary, ...replicas.replicas.map((r) => r.server)];
  const [primaryError, ...replicaErrors] = await Promise.all(servers.map((s) => ping(s, timeoutMs)));
  return {
    primary: {
      server: primary.name,
      ok: primaryError === undefined,
      ...(primaryError !== undefined ? { error: primaryError } : {}),
    },
    replicas: replicas.replicas.map((replica, i) => {
      const error = replicaErrors[i];
      if (error !== undefined) replicas.eject(replica, new Error(error));
      else replicas.confirm(replica);
      return {
        server: replica.server.name,
        host: replica.server.host,
        healthy: error === undefined,
        ...(error !== undefined ? { error } : {}),
      };
    }),
  };
}
