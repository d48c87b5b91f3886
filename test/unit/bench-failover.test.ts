/**
 * The failover benchmark's health gate, pure over `tandem status --json`: a stack takes
 * the next failover only when the leader key, the eligible replica, live semi-sync,
 * replication, etcd and every service say it can.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unhealthy } from '../../bench/failover.ts';
import type { StackStatus } from '../../src/orchestrate/status.ts';

const replication = { ioRunning: true, sqlRunning: true, lastError: '' };

/** A whole two-node stack: server-2 primary and leader, server-1 eligible and replicating. */
function whole(): StackStatus {
  return {
    hosts: [{ name: 'server-1', services: [{ id: 'server-1/mariadb', state: 'running' }] }],
    db: {
      primary: 'server-2',
      failover: {
        leader: 'server-2',
        term: 3,
        eligible: 'server-1',
        error: null,
        sentinels: [{ host: 'server-1', diverged: null }],
      },
      instances: [
        { host: 'server-2', role: 'primary', up: true, readOnly: false, semiSyncLive: true },
        { host: 'server-1', role: 'replica', up: true, readOnly: true, replication },
      ],
    },
    etcd: { members: [{ name: 'lb-1', healthy: true }] },
  } as unknown as StackStatus;
}

type Mutable = { -readonly [K in keyof StackStatus]: StackStatus[K] };

function withDb(change: (db: Record<string, unknown>) => void): StackStatus {
  const s = structuredClone(whole()) as Mutable;
  change(s.db as unknown as Record<string, unknown>);
  return s;
}

describe('bench failover: the health gate before each run', () => {
  it('passes a whole stack', () => {
    assert.equal(unhealthy(whole()), undefined);
  });

  it('names a replica whose replication stopped, with its error', () => {
    const s = withDb((db) => {
      (db.instances as { replication?: object }[])[1]!.replication = {
        ioRunning: false,
        sqlRunning: true,
        lastError: 'error connecting to master',
      };
    });
    assert.equal(unhealthy(s), 'replica server-1 not replicating (error connecting to master)');
  });

  it('refuses a stack whose primary does not hold the leader key, or has no eligible replica', () => {
    const moved = withDb((db) => {
      (db.failover as { leader: string | null }).leader = null;
    });
    assert.equal(unhealthy(moved), 'leader key held by nobody, primary server-2');
    const alone = withDb((db) => {
      (db.failover as { eligible: string | null }).eligible = null;
    });
    assert.equal(unhealthy(alone), 'no eligible replica (eligible: none)');
  });

  it('refuses a primary whose semi-sync is not live, and lists every problem', () => {
    const s = withDb((db) => {
      const [primary, replica] = db.instances as { semiSyncLive?: boolean; readOnly?: boolean }[];
      primary!.semiSyncLive = false;
      replica!.readOnly = false;
    });
    assert.equal(unhealthy(s), 'primary server-2: semi-sync not live; replica server-1 writable');
  });

  it('refuses a stack with a service not running or an etcd member unhealthy', () => {
    const s = structuredClone(whole()) as Mutable;
    (s.hosts[0]!.services[0] as { state: string }).state = 'unready';
    (s.etcd!.members[0] as { healthy: boolean }).healthy = false;
    assert.equal(unhealthy(s), 'etcd member(s) unhealthy: lb-1; not running: server-1/mariadb (unready)');
  });
});
