/**
 * The read/write-splitting client against a real MariaDB primary and GTID replica.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  createDb,
  type Db,
  type DbEvent,
  type DbOptions,
  DbQueryError,
  DbUnavailableError,
} from '../../src/db/index.ts';
import { type Cluster, eventually, sleep, startCluster } from '../support/mariadb.ts';

const options = {
  primaryAddress: '127.61.1.11',
  replicaAddress: '127.61.1.12',
  database: 'dbtest',
  user: 'app',
  password: 'app-pass',
  userHost: '127.61.1.%',
};

/** Waits until every replica passes the client's health check (which also restores it). */
async function inRotation(db: Db): Promise<void> {
  await eventually(async () => (await db.health()).replicas.every((r) => r.healthy), 'the replica in rotation');
}

describe('db client (MariaDB primary + replica)', () => {
  let cluster: Cluster | undefined;
  let db: Db | undefined;
  const events: DbEvent[] = [];

  const open = (extra: Partial<DbOptions> = {}): Db =>
    createDb({
      primary: { host: options.primaryAddress },
      replicas: [{ host: options.replicaAddress }],
      user: options.user,
      password: options.password,
      database: options.database,
      localAddress: '127.61.1.10',
      gtidWaitTimeoutMs: 300,
      connectTimeoutMs: 1000,
      queryTimeoutMs: 3000,
      onEvent: (e) => events.push(e),
      ...extra,
    });

  before(async () => {
    cluster = await startCluster(options);
    db = open();
    await db.write('CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL)');
  });

  after(async () => {
    await db?.close();
    await cluster?.destroy();
  });

  test('connects from the bound source address, so grants can name it', async () => {
    const { rows } = await db!.read<{ u: string }>('SELECT CURRENT_USER() AS c, USER() AS u');
    assert.match(rows[0]!.u, /^app@127\.61\.1\.10$/);
  });

  test('writes go to the primary and return the session last_gtid', async () => {
    const { result, gtid } = await db!.write('INSERT INTO items (id, name) VALUES (?, ?)', [1, 'one']);
    assert.equal(result.affectedRows, 1);
    assert.match(gtid ?? '', /^0-1-\d+$/);
    assert.equal(gtid, await cluster!.primary.sql('SELECT @@gtid_binlog_pos'));
  });

  test('reads go to the replica', async () => {
    await cluster!.waitForReplica();
    const { rows, role, server } = await db!.read<{ id: number }>('SELECT @@server_id AS id');
    assert.equal(role, 'replica');
    assert.equal(server, '127.61.1.12:3306');
    assert.equal(rows[0]!.id, 2);
  });

  test('read-your-writes: minGtid waits on the replica, or falls back to the primary', async () => {
    // GIVEN a replica that lags (within the client's bound, so it stays in the rotation)
    await cluster!.delayReplication(60);
    try {
      await inRotation(db!);
      const { gtid } = await db!.write('INSERT INTO items (id, name) VALUES (?, ?)', [2, 'two']);
      assert.ok(gtid);
      // WHEN reading without the token, the replica answers (stale)
      const stale = await db!.read('SELECT name FROM items WHERE id = ?', [2]);
      assert.equal(stale.role, 'replica');
      assert.equal(stale.rows.length, 0);
      // WHEN reading with it, MASTER_GTID_WAIT times out and the primary answers
      const fresh = await db!.read<{ name: string }>('SELECT name FROM items WHERE id = ?', [2], { minGtid: gtid });
      assert.equal(fresh.role, 'primary');
      assert.deepEqual(
        fresh.rows.map((r) => r.name),
        ['two'],
      );
      assert.ok(events.some((e) => e.kind === 'read-fallback' && e.reason === 'gtid-wait-timeout'));
    } finally {
      await cluster!.delayReplication(0);
    }
    await inRotation(db!);
    // THEN once the replica catches up, the token is served by the replica
    const { gtid } = await db!.write('UPDATE items SET name = ? WHERE id = ?', ['deux', 2]);
    const caughtUp = await db!.read<{ name: string }>('SELECT name FROM items WHERE id = ?', [2], { minGtid: gtid! });
    assert.equal(caughtUp.role, 'replica');
    assert.deepEqual(
      caughtUp.rows.map((r) => r.name),
      ['deux'],
    );
  });

  test('identical reads in flight together collapse into one query; read-your-writes reads never join', async () => {
    await cluster!.waitForReplica();
    const selects = async () =>
      Number((await cluster!.replica.sql("SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'")).split('\t').pop());
    const before = await selects();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => db!.read('SELECT id, name FROM items ORDER BY id')),
    );
    const collapsed = (await selects()) - before;
    assert.ok(collapsed < 20, `20 identical reads executed ${collapsed} statements`);
    assert.ok(
      results.every((r) => JSON.stringify(r.rows) === JSON.stringify(results[0]!.rows)),
      'joined reads see one result',
    );
    assert.equal(new Set(results.map((r) => r.rows)).size, results.length, 'each caller has its own rows');
    const { gtid } = await db!.write('INSERT INTO items (id, name) VALUES (?, ?)', [50, 'fifty']);
    const before2 = await selects();
    await Promise.all(Array.from({ length: 5 }, () => db!.read('SELECT id FROM items', [], { minGtid: gtid! })));
    // each read-your-writes read runs its own MASTER_GTID_WAIT and its own SELECT
    assert.equal((await selects()) - before2, 10);
    await db!.write('DELETE FROM items WHERE id = ?', [50]);
  });

  test('transactions commit on the primary with a GTID, and roll back on error', async () => {
    const { value, gtid } = await db!.transaction(async (tx) => {
      await tx.write('INSERT INTO items (id, name) VALUES (?, ?)', [3, 'three']);
      const rows = await tx.read<{ n: number }>('SELECT COUNT(*) AS n FROM items');
      return Number(rows[0]!.n);
    });
    assert.equal(value, 3);
    assert.match(gtid ?? '', /^0-1-\d+$/);

    await assert.rejects(
      db!.transaction(async (tx) => {
        await tx.write('INSERT INTO items (id, name) VALUES (?, ?)', [4, 'four']);
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    const { rows } = await db!.read('SELECT id FROM items WHERE id = 4', [], { minGtid: gtid! });
    assert.equal(rows.length, 0);
  });

  test('SQL errors are typed with the server code', async () => {
    await assert.rejects(db!.write('INSERT INTO items (id, name) VALUES (?, ?)', [1, 'again']), (err: unknown) => {
      assert.ok(err instanceof DbQueryError);
      assert.equal(err.code, 'DB_QUERY');
      assert.equal(err.sqlCode, 'ER_DUP_ENTRY');
      return true;
    });
    await assert.rejects(db!.read('SELECT * FROM no_such_table'), (err: unknown) => {
      assert.ok(err instanceof DbQueryError);
      assert.equal(err.sqlCode, 'ER_NO_SUCH_TABLE');
      return true;
    });
  });

  /** A client that checks its replicas every 250 ms and reads from none more than 1 s behind. */
  const openWatching = (seen: DbEvent[]): Db =>
    open({
      replicaCheckIntervalMs: 250,
      healthTimeoutMs: 500,
      maxReplicaLagMs: 1000,
      minBackoffMs: 250,
      maxBackoffMs: 1000,
      onEvent: (e) => seen.push(e),
    });

  /** Reads until `role` answers (every 25 ms, bounded); returns the ms it took. */
  async function untilReadFrom(db: Db, role: 'primary' | 'replica', timeoutMs: number): Promise<number> {
    const started = Date.now();
    await eventually(
      async () => (await db.read('SELECT 1 AS one')).role === role,
      `reads from the ${role}`,
      timeoutMs,
      25,
    );
    return Date.now() - started;
  }

  test('a replica whose SQL thread stops leaves the rotation within one check, and returns after START SLAVE', async () => {
    const seen: DbEvent[] = [];
    const watching = openWatching(seen);
    try {
      await cluster!.waitForReplica();
      await inRotation(watching);
      assert.equal((await watching.read('SELECT 1 AS one')).role, 'replica');
      // WHEN the replica's SQL thread stops (no write needed: it is stopped, not late)
      await cluster!.replica.sql('STOP SLAVE SQL_THREAD');
      // THEN by the next check (every 250 ms; measured 80 ms) reads go to the primary
      const ejectedMs = await untilReadFrom(watching, 'primary', 5000);
      console.log(`# SQL thread stopped: reads left the replica after ${ejectedMs} ms`);
      assert.ok(ejectedMs <= 500, `ejected after ${ejectedMs} ms`);
      assert.ok(
        seen.some((e) => e.kind === 'replica-ejected' && /replication is not running/.test(e.error)),
        JSON.stringify(seen),
      );
      // and they see the newest write
      await db!.write('INSERT INTO items (id, name) VALUES (?, ?)', [60, 'sixty']);
      const fresh = await watching.read<{ name: string }>('SELECT name FROM items WHERE id = ?', [60]);
      assert.equal(fresh.role, 'primary');
      assert.deepEqual(
        fresh.rows.map((r) => r.name),
        ['sixty'],
      );
      const health = await watching.health();
      assert.deepEqual(
        health.replicas.map((r) => r.healthy),
        [false],
      );
      // WHEN replication starts again, the back-off probe (at most 1 s apart; measured 244
      // and 610 ms) restores it
      await cluster!.replica.sql('START SLAVE');
      const restoredMs = await untilReadFrom(watching, 'replica', 5000);
      console.log(`# START SLAVE: reads back on the replica after ${restoredMs} ms`);
      assert.ok(restoredMs <= 1200, `restored after ${restoredMs} ms`);
      const caughtUp = await watching.read<{ name: string }>('SELECT name FROM items WHERE id = ?', [60]);
      assert.equal(caughtUp.role, 'replica');
      assert.deepEqual(
        caughtUp.rows.map((r) => r.name),
        ['sixty'],
      );
    } finally {
      await watching.close();
      await cluster!.replica.sql('START SLAVE');
    }
  });

  test('a replica lagging past maxReplicaLagMs leaves the rotation, not before, and returns once caught up', async () => {
    const seen: DbEvent[] = [];
    const watching = openWatching(seen);
    try {
      // GIVEN a replica that has applied everything, then applies every event 30 s late,
      // its threads running
      await cluster!.waitForReplica();
      await cluster!.delayReplication(30);
      await inRotation(watching);
      assert.equal((await watching.read('SELECT 1 AS one')).role, 'replica');
      // WHEN the primary takes a write every 100 ms (bounded)
      const started = Date.now();
      let written = 0;
      let ejectedMs: number | undefined;
      for (let i = 0; i < 50 && ejectedMs === undefined; i++) {
        await db!.write('INSERT INTO items (id, name) VALUES (?, ?)', [100 + i, `lag-${i}`]);
        written = 100 + i;
        const { role } = await watching.read('SELECT 1 AS one');
        if (role === 'primary') ejectedMs = Date.now() - started;
        else await sleep(100);
      }
      // THEN reads leave the replica once it is more than 1 s behind: not before the bound,
      // and within the bound plus two check intervals and the check's timeout (2000 ms; measured 1199 ms)
      console.log(`# MASTER_DELAY: reads left the lagging replica after ${ejectedMs} ms (bound 1000 ms)`);
      assert.ok(ejectedMs !== undefined && ejectedMs >= 1000 && ejectedMs <= 2000, `ejected after ${ejectedMs} ms`);
      assert.ok(
        seen.some((e) => e.kind === 'replica-ejected' && /behind the primary \(bound 1000 ms\)/.test(e.error)),
        JSON.stringify(seen),
      );
      const newest = await watching.read<{ name: string }>('SELECT name FROM items WHERE id = ?', [written]);
      assert.equal(newest.role, 'primary');
      assert.deepEqual(
        newest.rows.map((r) => r.name),
        [`lag-${written - 100}`],
      );
      // WHEN the delay ends, the replica catches up and the probe restores it
      await cluster!.delayReplication(0);
      const restoredMs = await untilReadFrom(watching, 'replica', 5000);
      console.log(`# delay ended: reads back on the replica after ${restoredMs} ms`);
      assert.ok(restoredMs <= 1200, `restored after ${restoredMs} ms`);
      const caughtUp = await watching.read<{ name: string }>('SELECT name FROM items WHERE id = ?', [written]);
      assert.equal(caughtUp.role, 'replica');
      assert.equal(caughtUp.rows.length, 1);
    } finally {
      await watching.close();
      await cluster!.delayReplication(0);
      await db!.write('DELETE FROM items WHERE id >= 100');
    }
  });

  test('a killed replica is ejected, reads go to the primary, and it comes back after restart', async () => {
    events.length = 0;
    await cluster!.replica.kill();
    // WHEN reading while the replica is down, no read fails
    for (let i = 0; i < 5; i++) {
      const { rows, role } = await db!.read<{ id: number }>('SELECT @@server_id AS id');
      assert.equal(role, 'primary');
      assert.equal(rows[0]!.id, 1);
    }
    const down = await db!.health();
    assert.equal(down.primary.ok, true);
    assert.deepEqual(
      down.replicas.map((r) => [r.host, r.healthy]),
      [['127.61.1.12', false]],
    );
    assert.ok(events.some((e) => e.kind === 'replica-ejected'));

    // WHEN it restarts, the back-off probe brings it back
    await cluster!.replica.start();
    await eventually(async () => (await db!.health()).replicas[0]!.healthy, 'the replica to be restored', 20_000, 100);
    assert.ok(events.some((e) => e.kind === 'replica-restored'));
    const { role } = await db!.read('SELECT 1');
    assert.equal(role, 'replica');
  });

  test('an unreachable primary is DbUnavailableError, and health says so', async () => {
    const nowhere = createDb({
      primary: { host: '127.61.1.13' },
      user: 'app',
      password: 'x',
      database: 'dbtest',
      connectTimeoutMs: 500,
    });
    try {
      await assert.rejects(nowhere.write('SELECT 1'), (err: unknown) => {
        assert.ok(err instanceof DbUnavailableError);
        assert.equal(err.code, 'DB_UNAVAILABLE');
        return true;
      });
      assert.equal((await nowhere.health()).primary.ok, false);
    } finally {
      await nowhere.close();
    }
  });
});
