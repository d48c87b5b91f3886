import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import type { Plan } from '../../src/config/types.ts';
import { mariadbEngine } from '../../src/engines/mariadb.ts';
import { templateKey } from '../../src/orchestrate/database/instance.ts';
import { mariadbPidFile, renderMyCnf } from '../../src/render/mariadb.ts';
import {
  DEFAULT_STACK,
  installed,
  linesOf,
  planOf,
  removeTempDirs,
  run,
  servicesOf,
  THREE_TIER_STACK,
  writeStack,
} from './fixtures/plans.ts';

after(removeTempDirs);

/** `key = value` pairs of one section of an option file. */
function section(text: string, name: string): Map<string, string> {
  const result = new Map<string, string>();
  let current = '';
  for (const line of linesOf(text)) {
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1]!;
    else if (current === name && line && !line.startsWith('#')) {
      const [key, ...rest] = line.split('=');
      assert.ok(!result.has(key!.trim()), `duplicate ${key}`);
      result.set(key!.trim(), rest.join('=').trim());
    }
  }
  return result;
}

function serverOptions(plan: Plan, host: string): Map<string, string> {
  return section(renderMyCnf(plan, host), 'mariadbd');
}

const NO_FAILOVER = { database: { failover: false } };

describe('renderMyCnf', () => {
  it('without failover, makes only the replicas read_only, with distinct server ids', () => {
    const plan = planOf(NO_FAILOVER);
    const primary = serverOptions(plan, 'server-2');
    const replica = serverOptions(plan, 'server-1');

    assert.equal(plan.db.primary, 'server-2');
    assert.equal(primary.get('read_only'), undefined);
    assert.equal(replica.get('read_only'), 'ON');
    assert.equal(replica.get('server_id'), '1');
    assert.equal(primary.get('server_id'), '2');
  });

  it('puts every file of the server where servicePaths says, and binds the host address', () => {
    const plan = planOf(DEFAULT_STACK);
    const service = servicesOf(plan, 'mariadb').find((s) => s.host === 'server-1')!;
    const paths = servicePaths(service);
    const text = renderMyCnf(plan, 'server-1');
    const o = section(text, 'mariadbd');

    assert.equal(o.get('user'), 'root');
    assert.equal(o.get('datadir'), paths.data);
    assert.equal(o.get('socket'), paths.socket);
    assert.equal(o.get('pid-file'), mariadbPidFile(paths.data));
    assert.equal(o.get('log_error'), paths.log);
    assert.equal(o.get('log_bin'), path.join(paths.data, 'binlog'));
    assert.equal(o.get('relay_log'), path.join(paths.data, 'relay-bin'));
    assert.equal(o.get('bind_address'), '127.60.0.12');
    assert.equal(o.get('port'), '3306');
    assert.deepEqual(Object.fromEntries(section(text, 'client')), { user: 'root', socket: paths.socket });
  });

  it('without failover, sets durable GTID replication, semi-sync on with no wait while no replica is connected', () => {
    const o = serverOptions(planOf(NO_FAILOVER), 'server-2');
    const expected: Record<string, string> = {
      log_slave_updates: 'ON',
      binlog_format: 'ROW',
      gtid_strict_mode: 'ON',
      gtid_domain_id: '0',
      sync_binlog: '1',
      innodb_flush_log_at_trx_commit: '1',
      skip_name_resolve: 'ON',
      session_track_system_variables:
        'autocommit,character_set_client,character_set_connection,character_set_results,time_zone,last_gtid',
      innodb_buffer_pool_size: '128M',
      max_connections: '300',
      slave_parallel_threads: '4',
      slave_parallel_mode: 'optimistic',
      rpl_semi_sync_master_enabled: 'ON',
      rpl_semi_sync_slave_enabled: 'ON',
      rpl_semi_sync_master_wait_no_slave: 'OFF',
      rpl_semi_sync_master_wait_point: 'AFTER_SYNC',
      rpl_semi_sync_master_timeout: '1000',
      performance_schema: 'OFF',
    };
    for (const [key, value] of Object.entries(expected)) assert.equal(o.get(key), value, key);
    assert.equal(o.get('skip_slave_start'), undefined);
  });

  it('with failover, starts every database read-only without replication, and semi-sync never times out', () => {
    const plan = planOf(DEFAULT_STACK);
    assert.equal(plan.db.failover, true);
    const files = ['server-1', 'server-2'].map((h) =>
      renderMyCnf(plan, h).replace(
        /^.*(server_id|report_host|bind_address|socket|datadir|pid-file|tmpdir|log_error|log_bin|relay_log|MariaDB for) .*$/gm,
        '',
      ),
    );
    assert.equal(files[0], files[1], 'the same file on both hosts but for their own names and paths');
    for (const host of ['server-1', 'server-2']) {
      const o = serverOptions(plan, host);
      assert.equal(o.get('read_only'), 'ON', host);
      assert.equal(o.get('skip_slave_start'), 'ON', host);
      assert.equal(o.get('init_rpl_role'), 'SLAVE', host);
      // The commit record is flushed too: the crash recovery of init_rpl_role = SLAVE would cut it otherwise.
      assert.equal(o.get('innodb_flush_log_at_trx_commit'), '3', host);
      assert.equal(o.get('rpl_semi_sync_master_wait_no_slave'), 'ON', host);
      assert.ok(Number(o.get('rpl_semi_sync_master_timeout')) >= 2 ** 32 - 1, host);
    }
  });

  it('takes buffer pool, port and semi-sync timeout from the plan', () => {
    const plan = planOf({ database: { bufferPoolMb: 64, semiSyncTimeoutMs: 2500, port: 3307, failover: false } });
    const o = serverOptions(plan, 'server-1');

    assert.equal(o.get('innodb_buffer_pool_size'), '64M');
    assert.equal(o.get('rpl_semi_sync_master_timeout'), '2500');
    assert.equal(o.get('port'), '3307');
  });

  it('renders the db hosts of the three-tier variant, primary db-1 (without failover)', () => {
    const plan = planOf({ ...THREE_TIER_STACK, database: { ...THREE_TIER_STACK.database, failover: false } });
    const db1 = serverOptions(plan, 'db-1');
    const db2 = serverOptions(plan, 'db-2');

    assert.equal(db1.get('read_only'), undefined);
    assert.equal(db2.get('read_only'), 'ON');
    assert.equal(db1.get('bind_address'), '127.62.0.16');
    assert.equal(db2.get('bind_address'), '127.62.0.17');
    assert.notEqual(db1.get('server_id'), db2.get('server_id'));
    assert.throws(() => renderMyCnf(plan, 'app-1'), /app-1 runs no mariadb service/);
  });
});

describe(
  'mariadbd --help --verbose on the rendered config',
  {
    skip: !installed(mariadbEngine.binary) && 'mariadbd is not installed',
  },
  () => {
    it('accepts every db host of the default and three-tier stacks', () => {
      for (const config of [DEFAULT_STACK, THREE_TIER_STACK]) {
        const plan = planOf(config);
        writeStack(plan);
        for (const service of servicesOf(plan, 'mariadb')) {
          const paths = servicePaths(service);
          const r = run(mariadbEngine.checkCommand(paths));
          assert.equal(r.status, 0, r.stderr);
          // The options really were read from our file.
          assert.match(r.stdout, new RegExp(`^datadir\\s+${paths.data}/?$`, 'm'));
          assert.match(r.stdout, new RegExp(`^server-id\\s+${plan.db.serverIds[service.host]}$`, 'm'));
        }
      }
    });

    it('fails on an unknown option, so the check can fail', () => {
      const plan = planOf(DEFAULT_STACK);
      writeStack(plan);
      const paths = servicePaths(servicesOf(plan, 'mariadb')[0]!);
      // [mariadbd] is the last section of the file.
      fs.appendFileSync(paths.config, 'bogus_option = 1\n');

      const r = run(mariadbEngine.checkCommand(paths));
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /unknown variable 'bogus_option=1'/);
    });
  },
);

describe('mariadb: the key of a fresh data directory (made once, copied for every instance)', () => {
  const keyOf = (plan: Plan, host: string, install = ['--skip-test-db']) => {
    const paths = servicePaths(plan.services.find((s) => s.kind === 'mariadb' && s.host === host)!);
    return templateKey(renderMyCnf(plan, host), paths.dir, install);
  };

  it('is the same for the primary and the replica, and for two stacks in other folders', () => {
    const plan = planOf(DEFAULT_STACK);
    assert.equal(keyOf(plan, 'server-1'), keyOf(plan, 'server-2'));
    assert.equal(keyOf(plan, 'server-1'), keyOf(planOf(DEFAULT_STACK), 'server-2'));
  });

  it('changes with an option that shapes the files, or with the installer', () => {
    const plan = planOf(DEFAULT_STACK);
    assert.notEqual(keyOf(plan, 'server-1'), keyOf(planOf({ database: { bufferPoolMb: 64 } }), 'server-1'));
    assert.notEqual(keyOf(plan, 'server-1'), keyOf(plan, 'server-1', ['--skip-test-db', '--other']));
  });
});
