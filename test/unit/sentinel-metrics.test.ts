import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { renderSentinelMetrics, serveSentinelMetrics } from '../../src/sentinel/metrics.ts';
import type { SentinelState } from '../../src/sentinel/sentinel.ts';

const PRIMARY: SentinelState = {
  host: 'server-2',
  role: 'primary',
  leader: { host: 'server-2', term: 3 },
  sync: { primary: 'server-2', term: 3, eligible: 'server-1' },
  holdsLeader: true,
  term: 3,
  fenced: null,
  diverged: null,
  notPromoted: null,
  reseed: null,
  etcdOk: true,
  lastRenewAgoMs: 42,
  db: null,
  lastError: null,
  updatedAt: 0,
};

describe('renderSentinelMetrics', () => {
  it("renders the role, the leader key's term and holder, the lease's age and the counters", () => {
    assert.equal(
      renderSentinelMetrics(PRIMARY, { fences: 1, promotions: 2 }),
      [
        "# HELP tandem_sentinel_role 1 for the role of this sentinel's database now, 0 for the others.",
        '# TYPE tandem_sentinel_role gauge',
        'tandem_sentinel_role{role="primary"} 1',
        'tandem_sentinel_role{role="replica"} 0',
        'tandem_sentinel_role{role="starting"} 0',
        'tandem_sentinel_role{role="fenced"} 0',
        'tandem_sentinel_role{role="diverged"} 0',
        'tandem_sentinel_role{role="down"} 0',
        '# HELP tandem_sentinel_holds_leader Whether this sentinel holds the leader key in etcd.',
        '# TYPE tandem_sentinel_holds_leader gauge',
        'tandem_sentinel_holds_leader 1',
        '# HELP tandem_sentinel_leader_term Term of the leader key as this sentinel last read it, labelled with the host holding it; absent while there is no leader key.',
        '# TYPE tandem_sentinel_leader_term gauge',
        'tandem_sentinel_leader_term{leader="server-2"} 3',
        "# HELP tandem_sentinel_lease_renew_age_seconds Seconds since the last renewal of the sentinel's etcd lease was sent; absent without a lease.",
        '# TYPE tandem_sentinel_lease_renew_age_seconds gauge',
        'tandem_sentinel_lease_renew_age_seconds 0.042',
        "# HELP tandem_sentinel_etcd_up Whether the sentinel's last tick reached etcd.",
        '# TYPE tandem_sentinel_etcd_up gauge',
        'tandem_sentinel_etcd_up 1',
        '# HELP tandem_sentinel_fences_total Fences of its database since the sentinel started.',
        '# TYPE tandem_sentinel_fences_total counter',
        'tandem_sentinel_fences_total 1',
        '# HELP tandem_sentinel_promotions_total Times the sentinel took the leader key for its database (bootstrap, failover, switchover) since it started.',
        '# TYPE tandem_sentinel_promotions_total counter',
        'tandem_sentinel_promotions_total 2',
        '',
      ].join('\n'),
    );
  });

  it('leaves the term and the lease age out while there is no leader key and no lease', () => {
    const text = renderSentinelMetrics(
      { ...PRIMARY, role: 'down', leader: null, holdsLeader: false, etcdOk: false, lastRenewAgoMs: null },
      { fences: 0, promotions: 0 },
    );
    assert.match(text, /^tandem_sentinel_role\{role="down"\} 1$/m);
    assert.match(text, /^tandem_sentinel_etcd_up 0$/m);
    assert.doesNotMatch(text, /^tandem_sentinel_leader_term/m);
    assert.doesNotMatch(text, /^tandem_sentinel_lease_renew_age_seconds/m);
  });
});

describe('serveSentinelMetrics', () => {
  it('answers GET /metrics with the rendered text and anything else with 404', async () => {
    let calls = 0;
    const server = serveSentinelMetrics(
      { address: '127.0.0.1', port: 0 },
      () => `tandem_sentinel_etcd_up ${++calls}\n`,
      (err) => assert.fail(err),
    );
    try {
      await new Promise((r) => server.once('listening', r));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await fetch(`${base}/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.equal(await r.text(), 'tandem_sentinel_etcd_up 1\n');
      assert.equal((await fetch(`${base}/metrics`)).status, 200, 'rendered again for each scrape');
      assert.equal(calls, 2);
      assert.equal((await fetch(`${base}/`)).status, 404);
      assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 404);
    } finally {
      server.close();
    }
  });

  it('reports a listener that cannot start instead of throwing', async () => {
    const first = serveSentinelMetrics({ address: '127.0.0.1', port: 0 }, () => '', assert.fail);
    await new Promise((r) => first.once('listening', r));
    const port = (first.address() as AddressInfo).port;
    try {
      const err = await new Promise<Error>((resolve) => {
        serveSentinelMetrics({ address: '127.0.0.1', port }, () => '', resolve);
      });
      assert.match(err.message, /EADDRINUSE/);
    } finally {
      first.close();
    }
  });
});
