import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatStatus } from '../../src/cli/format.ts';
import type { StackStatus } from '../../src/orchestrate/status.ts';

const base: StackStatus = {
  name: 'foobar',
  url: 'https://www.foobar.com/',
  hosting: 'netns',
  hosts: [],
  lb: { backends: [], vip: null },
  db: { primary: 'server-2', replication: { running: true, lagTransactions: 0 }, instances: [] },
  etcd: null,
};

const member = (name: string, address: string, healthy: boolean, leader: boolean) => ({
  name,
  address,
  healthy,
  leader,
  raftTerm: healthy ? 4 : null,
  dbSizeBytes: healthy ? 20480 : null,
});

describe('formatStatus: etcd', () => {
  it('shows the leader, the raft term and each member', () => {
    const text = formatStatus({
      ...base,
      etcd: {
        leader: 'server-2',
        raftTerm: 4,
        members: [
          member('server-1', '10.77.0.13', true, false),
          member('server-2', '10.77.0.14', true, true),
          member('lb-1', '10.77.0.11', false, false),
        ],
      },
    });
    assert.deepEqual(text.split('\n').slice(-4), [
      'etcd: leader server-2, raft term 4',
      '  server-1   10.77.0.13      follower',
      '  server-2   10.77.0.14      leader',
      '  lb-1       10.77.0.11      unhealthy',
    ]);
  });

  it('says when no member leads, and says nothing of etcd when failover is off', () => {
    const none = formatStatus({ ...base, etcd: { leader: null, raftTerm: null, members: [] } });
    assert.match(none, /^etcd: NO leader/m);
    assert.doesNotMatch(formatStatus(base), /etcd/);
  });
});
