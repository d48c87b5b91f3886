/**
 * The read/write-splitting client against a real MariaDB primary and GTID replica.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDb, type Db, type DbEvent, DbQueryError, DbUnavailableError } from '../../src/db/index.ts';
import { type Cluster, eventually, startCluster } from '../support/mariadb.ts';

const options = {
  primaryAddress: '127.61.1.11',
  replicaAddress: '127.61.1.12',
  database: 'dbtest',
  user: 'app',
  password: 'app-pass',
  userHost: '127.61.1.%',
};

describe('db client (MariaDB primary + replica)', () => {
  let cluster: Cluster | undefined;
  let db: Db | undefined;
  const events: DbEvent[] = [];

  const open = (): Db =>
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
    // GIVEN a replica that has stopped applying
    await cluster!.pauseReplication();
    try {
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
      await cluster!.resumeReplication();
    }
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
      results.every((r) => r.rows === results[0]!.rows),
      'joined reads share one result',
    );
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
