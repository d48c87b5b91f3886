/**
 * The monitor host as `tandem up` runs it (issue 9), on netns with database failover (so
 * etcd is scraped too): every target Prometheus scrapes answers, each exporter's key
 * metric has a value, the VRRP state sums to one master, and the scrape ports are open
 * to the monitor host only — a full scan from the client finds 80/443 on the VIP and
 * nothing on any host, the monitor included. Then a dead server fires BackendServerDown
 * through the real Prometheus and Alertmanager, and it resolves after the heal.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StackConfig } from '../../src/config/types.ts';
import { inNs, scanFrom } from '../support/netns.ts';
import { sleep, TestStack } from '../support/stack.ts';

const NAME = 'monup';
const SUBNET = '10.93.0';
const VIP = `${SUBNET}.10`;
const HOSTS = ['lb-1', 'lb-2', 'server-1', 'server-2', 'monitor'];
const CONFIG: StackConfig = {
  name: NAME,
  hosting: 'netns',
  network: { subnet: `${SUBNET}.0/24` },
  database: { primary: 'server-2', failover: true },
};
const MONITOR = `${SUBNET}.15`;
const PROMETHEUS = `http://${MONITOR}:9090`;
const ALERTMANAGER = `http://${MONITOR}:9093`;
// The default design, its monitor host included.
const stack = new TestStack('monitor-up', CONFIG, { monitored: true });
/**
 * Every port below 10000 (each one tandem's engines listen on: 80/443, 2379/2380, 3000/3001,
 * 3306, 8080, 8405, 9090–9115) and MariaDB's X port. All 65535 took 116 s here; these 29 s.
 */
const PORTS = '1-10000,33060';

/**
 * From the end of `up` until every target answered one scrape: at most one scrape
 * interval (5 s) after Prometheus started. Measured: 3.3, 2.8, 3.3 s.
 */
const TARGETS_UP_BOUND_MS = 7_000;
/**
 * From `chaos kill-host server-1` to BackendServerDown firing in Prometheus: HAProxy marks
 * the server down (3 failed checks), a scrape (5 s), an evaluation (5 s) and the rule's
 * `for` (5 s). Measured: 9.7, 9.3, 12.4 s.
 */
const FIRE_BOUND_MS = 19_000;
/** From the heal to the alert gone from Prometheus: the server's checks pass, a scrape and an evaluation. Measured: 4.8, 5.7, 9.3 s. */
const RESOLVE_BOUND_MS = 12_000;
/**
 * From `tandem switchover` returning to DatabaseFailover firing: at most a scrape of the new
 * leader's sentinel (5 s) and an evaluation (5 s), the rule has no `for` (the structural bound:
 * the measured time depends on where the switchover falls between scrapes). Measured: 3.1, 1.6, 0.05 s.
 */
const FAILOVER_ALERT_BOUND_MS = 10_000;

interface Target {
  labels: Record<string, string>;
  health: string;
  lastError: string;
}
interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
interface Alert {
  labels: Record<string, string>;
  state: string;
}

async function api<T>(url: string): Promise<T> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 200, url);
  return ((await r.json()) as { data: T }).data;
}

const targets = async () => (await api<{ activeTargets: Target[] }>(`${PROMETHEUS}/api/v1/targets`)).activeTargets;

async function query(promql: string): Promise<Sample[]> {
  return (await api<{ result: Sample[] }>(`${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(promql)}`)).result;
}

/** `host` → value of each series of `promql` (one series per host expected). */
async function byHost(promql: string): Promise<Record<string, number>> {
  const samples = await query(promql);
  return Object.fromEntries(samples.map((s) => [s.metric.host!, Number(s.value[1])]));
}

/** Polls `check` every 500 ms until it returns a value; the time it took. */
async function within<T>(boundMs: number, what: string, check: () => Promise<T | undefined>): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < boundMs) {
    if ((await check().catch(() => undefined)) !== undefined) return Date.now() - start;
    await sleep(500);
  }
  throw new Error(`${what} not within ${boundMs} ms`);
}

const backendDown = async (): Promise<Alert[]> =>
  (await api<{ alerts: Alert[] }>(`${PROMETHEUS}/api/v1/alerts`)).alerts.filter(
    (a) => a.labels.alertname === 'BackendServerDown' && a.labels.server === 'server-1',
  );

describe('tandem up runs the monitor: Prometheus scrapes every host and service', { timeout: 600_000 }, () => {
  let upEndedAt = 0;
  before(async () => {
    await stack.up();
    upEndedAt = Date.now();
  });
  after(async () => {
    await stack.cleanup();
  });

  it('every target in Prometheus is up, and they cover each host and kind of service', async () => {
    const took = await within(TARGETS_UP_BOUND_MS, 'every target up', async () => {
      const list = await targets();
      return list.length > 0 && list.every((t) => t.health === 'up') ? list : undefined;
    });
    console.log(`# every target up ${took} ms after up returned (${Date.now() - upEndedAt} ms now)`);
    const list = await targets();
    const down = list.filter((t) => t.health !== 'up').map((t) => `${t.labels.job}@${t.labels.host}: ${t.lastError}`);
    assert.deepEqual(down, []);
    const jobs = (job: string) =>
      list
        .filter((t) => t.labels.job === job)
        .map((t) => t.labels.host)
        .sort();
    assert.deepEqual(jobs('node'), [...HOSTS].sort());
    assert.deepEqual(jobs('haproxy'), ['lb-1', 'lb-2']);
    assert.deepEqual(jobs('nginx'), ['server-1', 'server-2']);
    assert.deepEqual(jobs('app'), ['server-1', 'server-2']);
    assert.deepEqual(jobs('mysqld'), ['server-1', 'server-2']);
    assert.equal(jobs('etcd').length, 3, 'three etcd members');
    assert.deepEqual(jobs('sentinel'), ['server-1', 'server-2']);
    for (const job of ['blackbox', 'prometheus', 'alertmanager']) assert.deepEqual(jobs(job), ['monitor'], job);
  });

  it("each exporter's key metric has a value", async () => {
    const load = await byHost('node_load1');
    assert.deepEqual(Object.keys(load).sort(), [...HOSTS].sort());
    assert.deepEqual(await byHost('mysql_up'), { 'server-1': 1, 'server-2': 1 });
    // The replica's IO and SQL threads run; semi-sync is ON on the primary.
    assert.deepEqual(await byHost('mysql_slave_status_slave_io_running'), { 'server-1': 1 });
    assert.deepEqual(
      await byHost(
        'mysql_global_status_rpl_semi_sync_master_status and on (instance) mysql_global_variables_read_only == 0',
      ),
      { 'server-2': 1 },
    );
    const nginx = await byHost('nginx_connections_active');
    assert.deepEqual(Object.keys(nginx).sort(), ['server-1', 'server-2']);
    for (const v of Object.values(nginx)) assert.ok(v >= 1, 'the exporter itself holds a connection');
    assert.deepEqual(await byHost('haproxy_backend_status{proxy="web",state="UP"}'), { 'lb-1': 1, 'lb-2': 1 });
    // prom-client's default metrics on the app's private listener.
    const heap = await byHost('nodejs_heap_size_used_bytes{job="app"}');
    assert.deepEqual(Object.keys(heap).sort(), ['server-1', 'server-2']);
    const vrrp = await byHost('tandem_vrrp_master');
    assert.deepEqual(Object.keys(vrrp).sort(), ['lb-1', 'lb-2']);
    const holder = (await stack.status()).lb.vip?.holder;
    assert.deepEqual(vrrp, { 'lb-1': holder === 'lb-1' ? 1 : 0, 'lb-2': holder === 'lb-2' ? 1 : 0 });
    assert.deepEqual(await byHost('probe_success'), { monitor: 1 });
    const expiry = await byHost('probe_ssl_earliest_cert_expiry');
    assert.ok(
      (expiry.monitor ?? 0) * 1000 > Date.now() + 30 * 86_400_000,
      `the site's certificate expires after 30 days`,
    );
    const leaders = await byHost('etcd_server_has_leader');
    assert.deepEqual(Object.values(leaders), [1, 1, 1], 'every etcd member has a leader');
    // Until tandem's webhook receiver exists, Alertmanager's notifications to it fail (todo below).
    const firing = await query('ALERTS{alertstate="firing",alertname!="AlertmanagerNotificationsFailing"}');
    assert.deepEqual(firing, [], 'nothing else fires on a healthy stack');
  });

  it("each sentinel's listener reports its role and the leader key as it reads it", async () => {
    assert.deepEqual(await byHost('tandem_sentinel_role{role="primary"}'), { 'server-1': 0, 'server-2': 1 });
    assert.deepEqual(await byHost('tandem_sentinel_holds_leader'), { 'server-1': 0, 'server-2': 1 });
    const terms = await query('tandem_sentinel_leader_term');
    assert.deepEqual(terms.map((t) => [t.metric.host, t.metric.leader]).sort(), [
      ['server-1', 'server-2'],
      ['server-2', 'server-2'],
    ]);
    const renewAge = await byHost('tandem_sentinel_lease_renew_age_seconds');
    assert.deepEqual(Object.keys(renewAge).sort(), ['server-1', 'server-2']);
    for (const age of Object.values(renewAge)) assert.ok(age < 1, `a lease renewed within its 1 s TTL (${age} s ago)`);
  });

  it(
    'nothing fires on a healthy stack',
    { todo: "tandem's webhook receiver (issue 9) does not exist yet: Alertmanager's notifications to it fail" },
    async () => {
      assert.deepEqual(await query('ALERTS{alertstate="firing"}'), []);
    },
  );

  it("nginx's stub_status answers its own host only; the exporter's my.cnf is 0600", async () => {
    const url = `http://${SUBNET}.13:8080/nginx_status`;
    const own = await inNs(`tandem-${NAME}-server-1`, ['curl', '-sS', '-m', '3', url]);
    assert.match(own.stdout, /^Active connections: \d+/);
    for (const from of ['lb-1', 'monitor', 'server-2']) {
      const r = await inNs(`tandem-${NAME}-${from}`, [
        'curl',
        '-sS',
        '-m',
        '2',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        url,
      ]);
      assert.equal(r.stdout, '000', `no answer from ${from}`);
    }
    const cnf = path.join(stack.dir, '.tandem/hosts/server-1/mysqld-exporter/my.cnf');
    assert.equal(fs.statSync(cnf).mode & 0o777, 0o600);
  });

  it('a scan of every port tandem uses from the client finds only 80 and 443 on the VIP, nothing on any host (the monitor included); tandem reaches Prometheus', async () => {
    const addresses = HOSTS.map((_, i) => `${SUBNET}.${11 + i}`);
    const started = Date.now();
    const r = await scanFrom(`tandem-${NAME}-client`, PORTS, [VIP, ...addresses]);
    console.log(`# the scan took ${Date.now() - started} ms`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.reported, addresses.length + 1, r.stdout);
    assert.deepEqual(r.reachable, [`${VIP}:443/open`, `${VIP}:80/open`]);
    // The root namespace (the machine running tandem) reaches both UIs.
    for (const ui of [`${PROMETHEUS}/-/ready`, `${ALERTMANAGER}/-/ready`])
      assert.equal((await fetch(ui, { signal: AbortSignal.timeout(5000) })).status, 200, ui);
  });

  it('GIVEN server-1 killed (kill-host) THEN BackendServerDown fires within the bound, reaches Alertmanager, and resolves after the heal', async () => {
    const killed = await stack.run('chaos', 'kill-host', 'server-1');
    assert.equal(killed.code, 0, killed.stderr);
    const fired = await within(FIRE_BOUND_MS, 'BackendServerDown firing', async () => {
      const alerts = await backendDown();
      return alerts.length === 2 && alerts.every((a) => a.state === 'firing') ? alerts : undefined;
    });
    console.log(`# BackendServerDown for server-1 firing on both LBs ${fired} ms after kill-host`);
    const inAm = await within(10_000, 'the alert in Alertmanager', async () => {
      const r = await fetch(`${ALERTMANAGER}/api/v2/alerts?filter=alertname%3D%22BackendServerDown%22`);
      const list = (await r.json()) as { labels: Record<string, string> }[];
      return list.some((a) => a.labels.server === 'server-1') ? list : undefined;
    });
    console.log(`# and in Alertmanager ${inAm} ms later`);
    const healed = await stack.run('chaos', 'heal');
    assert.equal(healed.code, 0, healed.stderr);
    const resolved = await within(RESOLVE_BOUND_MS, 'BackendServerDown resolved', async () =>
      (await backendDown()).length === 0 ? true : undefined,
    );
    console.log(`# BackendServerDown resolved ${resolved} ms after the heal returned`);
  });

  it("GIVEN the primary moved to server-1 (switchover) THEN DatabaseFailover fires, from the sentinels' metrics", async () => {
    // After the heal above server-1 must be the replica in sync again before it can take over.
    await within(60_000, 'server-1 eligible again', async () =>
      (await stack.status()).db.failover?.eligible === 'server-1' ? true : undefined,
    );
    const moved = await stack.run('switchover', '--to', 'server-1');
    assert.equal(moved.code, 0, moved.stdout + moved.stderr);
    const fired = await within(FAILOVER_ALERT_BOUND_MS, 'DatabaseFailover firing', async () => {
      const firing = await query('ALERTS{alertname="DatabaseFailover",alertstate="firing"}');
      return firing.length === 1 ? firing : undefined;
    });
    console.log(`# DatabaseFailover firing ${fired} ms after the switchover returned`);
    // The leader key moves first; the new primary's sentinel reports `primary` once its
    // database is writable, a scrape later at most.
    const roleMoved = await within(FAILOVER_ALERT_BOUND_MS, 'server-1 reported primary', async () => {
      const primary = await byHost('tandem_sentinel_role{role="primary"}');
      return primary['server-1'] === 1 && primary['server-2'] === 0 ? primary : undefined;
    });
    console.log(`# server-1's sentinel reported primary ${roleMoved} ms after that`);
  });
});
