/**
 * The db client follows a failover by itself: against a real MariaDB pair whose roles are
 * swapped by hand (the old primary set read-only, the replica made writable and the old
 * primary pointed at it), as the sentinels will do it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDb, type Db, type DbEvent, type DbOptions, DbTwoWritableError } from '../../src/db/index.ts';
import { type Cluster, eventually, type MariaNode, sleep, startCluster } from '../support/mariadb.ts';

const options = {
  primaryAddress: '127.63.8.11',
  replicaAddress: '127.63.8.12',
  database: 'failover',
  user: 'app',
  password: 'app-pass',
  userHost: '127.63.8.%',
};

describe('db client across a failover (MariaDB pair, roles swapped by hand)', () => {
  let cluster: Cluster | undefined;
  /** The node that is writable now, and the one that replicates from it. */
  let writer: MariaNode;
  let follower: MariaNode;

  /** Every node, the replica first: the client must find the primary, not assume it. */
  const open = (events: DbEvent[], extra: Partial<DbOptions> = {}): Db =>
    createDb({
      nodes: [{ host: options.replicaAddress }, { host: options.primaryAddress }],
      user: options.user,
      password: options.password,
      database: options.database,
      localAddress: '127.63.8.10',
      connectTimeoutMs: 1000,
      queryTimeoutMs: 3000,
      gtidWaitTimeoutMs: 500,
      minBackoffMs: 100,
      maxBackoffMs: 500,
      replicaCheckIntervalMs: 250,
      onEvent: (e) => events.push(e),
      ...extra,
    });

  /**
   * The manual failover: the primary turns read-only, the replica applies everything,
   * stops replicating and turns writable; then the old primary replicates from it.
   * Returns the ms from the first step until the new primary was writable.
   */
  async function swap(): Promise<number> {
    const [from, to] = [writer, follower];
    const started = Date.now();
    await from.sql('SET GLOBAL read_only = ON');
    const position = await from.sql('SELECT @@gtid_binlog_pos');
    const applied = await to.sql(`SELECT MASTER_GTID_WAIT('${position}', 10)`);
    if (applied !== '0') throw new Error(`${to.name} did not apply ${position}`);
    await to.sql('STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF');
    const tookMs = Date.now() - started;
    await from.sql(
      [
        'SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos',
        `CHANGE MASTER TO MASTER_HOST='${to.address}', MASTER_PORT=${to.port}, MASTER_USER='repl', MASTER_PASSWORD='repl-pass', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`,
        'START SLAVE',
      ].join(';'),
    );
    [writer, follower] = [to, from];
    return tookMs;
  }

  async function replicated(): Promise<void> {
    const position = await writer.sql('SELECT @@gtid_binlog_pos');
    assert.equal(await follower.sql(`SELECT MASTER_GTID_WAIT('${position}', 15)`), '0', 'the follower caught up');
  }

  before(async () => {
    cluster = await startCluster(options);
    writer = cluster.primary;
    follower = cluster.replica;
    await writer.sql(
      `CREATE TABLE ${options.database}.items (id INT PRIMARY KEY, writer INT NOT NULL DEFAULT 0, body VARCHAR(64) NOT NULL)`,
    );
    await replicated();
  });

  after(async () => {
    await cluster?.destroy();
  });

  test('finds the primary among all nodes (listed replica first), and health names it', async () => {
    const events: DbEvent[] = [];
    const db = open(events);
    try {
      const { gtid } = await db.write('INSERT INTO items (id, body) VALUES (?, ?)', [1, 'one']);
      assert.match(gtid ?? '', /^0-1-\d+$/);
      const health = await db.health();
      assert.equal(health.primaryState, 'found');
      assert.deepEqual(health.primary, { server: '127.63.8.11:3306', ok: true });
      assert.deepEqual(
        health.nodes.map((n) => [n.server, n.readOnly]),
        [
          ['127.63.8.12:3306', true],
          ['127.63.8.11:3306', false],
        ],
      );
      assert.ok(
        events.some((e) => e.kind === 'primary-found' && e.server === '127.63.8.11:3306'),
        JSON.stringify(events),
      );
    } finally {
      await db.close();
    }
  });

  test('a write and a transaction refused with 1290 by the old primary run again on the new one', async () => {
    const events: DbEvent[] = [];
    // No background probe: the client still believes the old primary when it writes.
    const db = open(events, { primaryProbeIntervalMs: 0 });
    try {
      await db.write('INSERT INTO items (id, body) VALUES (?, ?)', [10, 'before']);
      const oldPrimary = writer;
      await swap();
      // WHEN writing after the swap, the old primary answers 1290; the client probes and retries
      const { gtid } = await db.write('INSERT INTO items (id, body) VALUES (?, ?)', [11, 'after']);
      assert.match(gtid ?? '', new RegExp(`^0-${writer.spec.serverId}-\\d+$`), 'the new primary wrote it');
      const retried = events.filter((e) => e.kind === 'write-retried');
      assert.ok(retried.length >= 1, JSON.stringify(events));
      assert.ok(
        retried.every((e) => e.kind === 'write-retried' && e.server === `${oldPrimary.address}:3306`),
        JSON.stringify(retried),
      );
      assert.match(JSON.stringify(retried[0]), /read_only|read-only/);
      // AND a transaction refused at its first write runs again, once committed
      let runs = 0;
      events.length = 0;
      await swap();
      const { value } = await db.transaction(async (tx) => {
        runs += 1;
        const rows = await tx.read<{ n: number }>('SELECT COUNT(*) AS n FROM items');
        await tx.write('INSERT INTO items (id, body) VALUES (?, ?)', [12, 'tx']);
        return Number(rows[0]!.n);
      });
      assert.equal(runs, 2, 'refused once by the read-only node, then committed on the new primary');
      assert.equal(value, 3);
      assert.ok(events.some((e) => e.kind === 'write-retried'));
      await replicated();
      for (const node of [writer, follower]) {
        assert.equal(
          await node.sql(`SELECT GROUP_CONCAT(id ORDER BY id) FROM ${options.database}.items`),
          '1,10,11,12',
        );
      }
    } finally {
      await db.close();
    }
  });

  test('read-your-writes tokens keep working across the swap (from either primary)', async () => {
    const db = open([]);
    try {
      // GIVEN a token from the current primary
      const before = await db.write('INSERT INTO items (id, body) VALUES (?, ?)', [20, 'token-before']);
      assert.ok(before.gtid);
      const oldServerId = writer.spec.serverId;
      assert.match(before.gtid, new RegExp(`^0-${oldServerId}-`));
      await swap();
      // WHEN reading with it after the swap, whichever node answers has the row
      const seen = await db.read<{ body: string }>('SELECT body FROM items WHERE id = ?', [20], {
        minGtid: before.gtid,
      });
      assert.deepEqual(
        seen.rows.map((r) => r.body),
        ['token-before'],
      );
      // AND a token from the new primary (another server_id) is read back too
      const afterSwap = await db.write('INSERT INTO items (id, body) VALUES (?, ?)', [21, 'token-after']);
      assert.match(afterSwap.gtid ?? '', new RegExp(`^0-${writer.spec.serverId}-`));
      assert.notEqual(writer.spec.serverId, oldServerId);
      const fresh = await db.read<{ body: string }>('SELECT body FROM items WHERE id = ?', [21], {
        minGtid: afterSwap.gtid!,
      });
      assert.deepEqual(
        fresh.rows.map((r) => r.body),
        ['token-after'],
      );
      // THEN once the old primary replicates from the new one, it serves both tokens itself
      await eventually(async () => (await db.health()).replicas.every((r) => r.healthy), 'the old primary in rotation');
      for (const [token, id] of [
        [before.gtid, 20],
        [afterSwap.gtid!, 21],
      ] as const) {
        const onReplica = await db.read<{ id: number }>('SELECT id FROM items WHERE id = ?', [id], { minGtid: token });
        assert.equal(onReplica.role, 'replica', `token ${token}`);
        assert.equal(onReplica.server, `${follower.address}:3306`);
        assert.deepEqual(
          onReplica.rows.map((r) => r.id),
          [id],
        );
      }
    } finally {
      await db.close();
    }
  });

  test('two writable nodes: the client writes to neither, says so, and resumes when one is read-only again', async () => {
    const events: DbEvent[] = [];
    const db = open(events, { failoverWaitMs: 1000 });
    try {
      await db.write('INSERT INTO items (id, body) VALUES (?, ?)', [30, 'one writable']);
      await follower.sql('SET GLOBAL read_only = OFF');
      try {
        // GIVEN the background probe (every 1 s) has seen both writable; a write before it
        // would still go to the primary the client knew, as it cannot know sooner
        const conflictSeen = Date.now();
        await eventually(
          () => events.some((e) => e.kind === 'primary-conflict'),
          'a probe to see two writable nodes',
          3000,
          20,
        );
        console.log(`# two writable: the background probe saw it after ${Date.now() - conflictSeen} ms`);
        const started = Date.now();
        await assert.rejects(
          db.write('INSERT INTO items (id, body) VALUES (?, ?)', [31, 'two writable']),
          (err: unknown) => {
            assert.ok(err instanceof DbTwoWritableError, String(err));
            assert.equal(err.code, 'DB_TWO_WRITABLE');
            assert.deepEqual([...err.servers].sort(), ['127.63.8.11:3306', '127.63.8.12:3306']);
            return true;
          },
        );
        const waitedMs = Date.now() - started;
        assert.ok(waitedMs >= 1000 && waitedMs < 2000, `refused after ${waitedMs} ms (failoverWaitMs 1000)`);
        const health = await db.health();
        assert.equal(health.primaryState, 'two-writable');
        assert.equal(health.primary.ok, false);
        assert.match(health.primary.error ?? '', /2 nodes are writable/);
        assert.ok(
          events.some((e) => e.kind === 'primary-conflict' && e.servers.length === 2),
          JSON.stringify(events),
        );
        for (const node of [writer, follower]) {
          assert.equal(await node.sql(`SELECT COUNT(*) FROM ${options.database}.items WHERE id = 31`), '0', node.name);
        }
      } finally {
        await follower.sql('SET GLOBAL read_only = ON');
      }
      // WHEN one node is read-only again, the next write goes to the other
      const { gtid } = await db.write('INSERT INTO items (id, body) VALUES (?, ?)', [32, 'one writable again']);
      assert.match(gtid ?? '', new RegExp(`^0-${writer.spec.serverId}-`));
      assert.equal((await db.health()).primaryState, 'found');
    } finally {
      await db.close();
    }
  });

  test('under a write loop, a swap costs no acknowledged write and a short gap', async () => {
    const events: DbEvent[] = [];
    const db = open(events);
    const acked: { id: number; at: number; gtid: string | null }[] = [];
    const failed: { id: number; error: string }[] = [];
    let stop = false;
    const WRITERS = 4;
    // Bounded: at most 500 writes per writer, and the loop stops 2 s after the swap.
    const loop = async (w: number): Promise<void> => {
      for (let i = 0; i < 500 && !stop; i++) {
        const id = 1000 + w * 1000 + i;
        try {
          const { gtid } = await db.write('INSERT INTO items (id, writer, body) VALUES (?, ?, ?)', [id, w, 'loop']);
          acked.push({ id, at: Date.now(), gtid });
        } catch (err) {
          failed.push({ id, error: err instanceof Error ? err.message : String(err) });
        }
        await sleep(10);
      }
    };
    try {
      const writers = Array.from({ length: WRITERS }, (_, w) => loop(w));
      await sleep(1000);
      const newServerId = follower.spec.serverId;
      const swapStarted = Date.now();
      const swapMs = await swap();
      await sleep(2000);
      stop = true;
      await Promise.all(writers);

      const times = acked.map((a) => a.at).sort((a, b) => a - b);
      let gapMs = 0;
      for (let i = 1; i < times.length; i++) gapMs = Math.max(gapMs, times[i]! - times[i - 1]!);
      const firstOnNew = acked.find((a) => a.gtid?.startsWith(`0-${newServerId}-`));
      const resumedMs = firstOnNew ? firstOnNew.at - swapStarted : undefined;
      console.log(
        `# swap under load: ${acked.length} writes acknowledged, ${failed.length} failed; swap took ${swapMs} ms; ` +
          `first write on the new primary ${resumedMs} ms after the swap began (${resumedMs === undefined ? '?' : resumedMs - swapMs} ms after it was writable); longest gap between acknowledgements ${gapMs} ms; ` +
          `${events.filter((e) => e.kind === 'write-retried').length} retries`,
      );
      // THEN every write was acknowledged (the refused ones ran again), none is missing on either node
      assert.deepEqual(failed, []);
      assert.ok(acked.length > 100, `${acked.length} writes acknowledged`);
      assert.ok(resumedMs !== undefined, 'writes went to the new primary');
      await replicated();
      const ids = acked.map((a) => a.id).sort((a, b) => a - b);
      for (const node of [writer, follower]) {
        const stored = await node.sql(`SELECT id FROM ${options.database}.items WHERE id >= 1000 ORDER BY id`);
        assert.deepEqual(stored.split('\n').map(Number), ids, `${node.name} holds exactly the acknowledged writes`);
      }
      // AND the client's share of the pause: from the new primary turning writable to the
      // first write acknowledged there, one probe back-off (≤ 100 ms) and a round (measured 106–243 ms)
      const clientMs = resumedMs - swapMs;
      assert.ok(clientMs <= 350, `writes resumed ${clientMs} ms after the new primary was writable`);
      // and the longest pause is the manual swap plus that share
      assert.ok(gapMs <= swapMs + 350, `longest gap ${gapMs} ms, swap ${swapMs} ms`);
    } finally {
      stop = true;
      await db.close();
    }
  });
  // Last: it leaves the old primary dead (restarted, its config would make it writable).
  test('a killed primary: a write refused by it waits, and runs on the replica once promoted', async () => {
    const events: DbEvent[] = [];
    const db = open(events);
    try {
      // GIVEN the client has pooled connections to the primary
      await Promise.all(
        [40, 41, 42].map((id) => db.write('INSERT INTO items (id, body) VALUES (?, ?)', [id, 'pooled'])),
      );
      await replicated();
      const dead = writer;
      await dead.kill();
      // WHEN a write comes while no node is writable, and the replica is promoted 500 ms later
      const pending = db.write('INSERT INTO items (id, body) VALUES (?, ?)', [43, 'after the kill']);
      await sleep(500);
      await follower.sql('STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF');
      const promotedAt = Date.now();
      [writer, follower] = [follower, dead];
      // THEN the write runs on the new primary, once
      const { gtid } = await pending;
      const resumedMs = Date.now() - promotedAt;
      console.log(`# killed primary: the waiting write was acknowledged ${resumedMs} ms after the promotion`);
      assert.match(gtid ?? '', new RegExp(`^0-${writer.spec.serverId}-`));
      assert.equal(await writer.sql(`SELECT COUNT(*) FROM ${options.database}.items WHERE id = 43`), '1');
      assert.ok(resumedMs <= 350, `acknowledged ${resumedMs} ms after the promotion`);
      // What sent the client looking: the write's refused connection, or a probe that
      // found the dead primary first (then the write waited without trying it). Either
      // way, the dead server was seen failing before the new primary was found.
      const found = events.findIndex((e) => e.kind === 'primary-found' && e.server === `${writer.address}:3306`);
      const noticed = events.findIndex(
        (e) =>
          (e.kind === 'write-retried' && /ECONNREFUSED/.test(e.error)) ||
          (e.kind === 'primary-unknown' && e.previous === `${dead.address}:3306`),
      );
      assert.ok(noticed >= 0 && noticed < found, JSON.stringify(events));
      assert.ok(
        events.some((e) => e.kind === 'primary-unknown'),
        JSON.stringify(events),
      );
      assert.ok(
        events.some((e) => e.kind === 'primary-found' && e.server === `${writer.address}:3306`),
        JSON.stringify(events),
      );
      const health = await db.health();
      assert.equal(health.primaryState, 'found');
      assert.equal(health.primary.server, `${writer.address}:3306`);
      assert.ok(health.nodes.find((n) => n.server === `${dead.address}:3306`)?.error, JSON.stringify(health.nodes));
    } finally {
      await db.close();
    }
  });
});
