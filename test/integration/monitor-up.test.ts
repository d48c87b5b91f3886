/**
 * The monitor host as `tandem up` runs it (issue 9), on netns with database failover (so
 * etcd is scraped too): every target Prometheus scrapes answers, each exporter's key
 * metric has a value, the VRRP state sums to one master, and the scrape ports are open
 * to the monitor host only — a full scan from the client finds 80/443 on the VIP and
 * nothing on any host, the monitor included. Nothing fires on the healthy stack
 * (`tandem alerts`). Then each fault fires its alert through the real Prometheus and
 * Alertmanager, seen by `tandem alerts` and tandem's webhook receiver, and the alert
 * resolves after the heal: a dead server (BackendServerDown), a dead replica's host
 * (ReplicaMissing on the primary), the active LB's host (VipNoStandby).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StackConfig } from '../../src/config/types.ts';
import { type NotificationRecord, readRecords } from '../../src/alert-receiver/record.ts';
import type { FiringAlert } from '../../src/orchestrate/alerts.ts';
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
 * 3306, 8080, 8405, 9090–9115) and MariaDB's X port. All 65535 took 116 s here with a
 * connect scan, these 29 s; with scanFrom's SYN scan these 6.7 s.
 */
const PORTS = '1-10000,33060';

/**
 * From the end of `up` until every target answered one scrape: Prometheus is the last
 * service `up` starts (after the LBs' keepalived), so its first scrape of each target, at
 * most one scrape interval (5 s) after its start. Measured before that ordering: 2.8–3.3 s;
 * with it: over 7 s once, 9.9 s (a loaded machine).
 */
const TARGETS_UP_BOUND_MS = 12_000;
/**
 * From `chaos kill-host server-1` to BackendServerDown firing in Prometheus: HAProxy marks
 * the server down (3 failed checks), a scrape (5 s), an evaluation (5 s) and the rule's
 * `for` (5 s). Measured: 9.7, 9.3, 12.4, 11.4, 12.8, 13.6 s; in `tandem alerts` and the
 * receiver's record (Alertmanager's group_wait, 2 s): 12.2, 14.4 / 15.9, 18.1 s.
 */
const FIRE_BOUND_MS = 24_000;
/** From the heal to the alert gone from Prometheus: the server's checks pass, a scrape and an evaluation. Measured: 4.8, 5.7, 9.3, 5.2, 5.2, 6.0 s; gone from `tandem alerts` and recorded resolved: 6.8, 6.1 / 7.6, 8.4 s. */
const RESOLVE_BOUND_MS = 12_000;
/**
 * GIVEN a healthy stack before each fault: until the previous fault's alerts resolved
 * (replication catching up after its heal). Measured: 3.5, 1.5, 0.9, 1.2, 3.6, 4.7 s.
 */
const QUIET_BOUND_MS = 9_000;
/**
 * From `chaos kill-host db:replica` to ReplicaMissing (on the primary) in `tandem alerts`
 * and the receiver's record: the primary notices the dead replica when its heartbeat (5 s)
 * gets no answer (tcp_retries2=5, ~13 s), then a scrape, an evaluation and the rule's
 * `for` (10 s). Measured: 27.8, 24.0, 24.7 s (recorded 25.6, 25.2 s).
 */
const REPLICA_FIRE_BOUND_MS = 50_000;
/** From the heal to ReplicaMissing gone and recorded resolved: the replica reconnects, a scrape, an evaluation. Measured: 10.1, 6.4, 4.4 s (recorded 8.4, 4.4 s). */
const REPLICA_RESOLVE_BOUND_MS = 20_000;
/**
 * From `chaos kill-host lb:active` to VipNoStandby in `tandem alerts` and the record: the
 * dead LB's scrape fails (≤ 5 s + its 4 s timeout), an evaluation, the rule's `for` (10 s).
 * Measured: 16.9, 16.5, 16.2 s (recorded 18.0, 16.8 s).
 */
const VIP_FIRE_BOUND_MS = 30_000;
/** From the heal to VipNoStandby gone and recorded resolved: the LB's keepalived is BACKUP again, a scrape, an evaluation. Measured: 8.0, 6.8, 4.6 s. */
const VIP_RESOLVE_BOUND_MS = 16_000;
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

/** `tandem alerts --json`: what fires now, as the CLI lists it. */
async function tandemAlerts(): Promise<FiringAlert[]> {
  const r = await stack.run('alerts', '--json');
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { alerts: FiringAlert[] }).alerts;
}

/** The receiver's record on the monitor host has a notification of an alert `match` accepts with `status`, received after `since`. */
function recorded(status: 'firing' | 'resolved', since: number, match: (r: NotificationRecord) => boolean): boolean {
  const file = path.join(stack.dir, '.tandem/hosts/monitor/alert-receiver/notifications.jsonl');
  return readRecords(file).some((r) => r.status === status && Date.parse(r.receivedAt) >= since && match(r));
}

/**
 * Polls until `tandem alerts` lists an alert `match` accepts (`firing`) or lists none
 * (`resolved`), and the receiver has recorded it so; the times from `since`, both within `boundMs`.
 */
async function seen(
  status: 'firing' | 'resolved',
  since: number,
  boundMs: number,
  what: string,
  match: (a: Pick<FiringAlert, 'name' | 'host' | 'labels'>) => boolean,
): Promise<{ listed: number; recorded: number }> {
  const left = () => boundMs - (Date.now() - since);
  await within(left(), `${what} ${status === 'firing' ? 'in' : 'gone from'} tandem alerts`, async () =>
    (await tandemAlerts()).some(match) === (status === 'firing') ? true : undefined,
  );
  const listed = Date.now() - since;
  await within(left(), `${what} recorded ${status} by the receiver`, async () =>
    recorded(status, since, (r) => match({ name: r.alertname, host: r.host, labels: r.labels })) ? true : undefined,
  );
  return { listed, recorded: Date.now() - since };
}

/** GIVEN a healthy stack: waits until `tandem alerts` lists nothing (a previous fault's alerts resolved). */
async function quiet(): Promise<void> {
  const took = await within(QUIET_BOUND_MS, 'nothing firing', async () =>
    (await tandemAlerts()).length === 0 ? true : undefined,
  );
  console.log(`# nothing fires ${took} ms into the test`);
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
    // keepalived's notify writes the state at its first transition: one scrape later it shows.
    const vrrpTook = await within(TARGETS_UP_BOUND_MS, 'the VRRP state of both LBs', async () => {
      const seen = await byHost('tandem_vrrp_master');
      return Object.keys(seen).length === 2 ? seen : undefined;
    });
    console.log(`# the VRRP state of both LBs in Prometheus ${vrrpTook} ms into the test`);
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
  });

  it('nothing fires on a healthy stack: `tandem alerts` lists nothing, Prometheus has nothing firing, Alertmanager delivers', async () => {
    assert.deepEqual(await query('ALERTS{alertstate="firing"}'), []);
    assert.deepEqual(await tandemAlerts(), []);
    const human = await stack.run('alerts');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^nothing fires \(Alertmanager on monitor, /);
    // Alertmanager's webhook to tandem's receiver has not failed once.
    const failed = await query('sum(alertmanager_notifications_failed_total{integration="webhook"})');
    assert.equal(failed.length, 1, 'the counter exists');
    assert.equal(failed[0]!.value[1], '0');
  });

  it("tandem's alert receiver answers the monitor host itself, nobody else", async () => {
    const url = `http://${MONITOR}:9095/-/ready`;
    const code = (from: string) =>
      inNs(`tandem-${NAME}-${from}`, ['curl', '-sS', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', url]);
    assert.equal((await code('monitor')).stdout, '200');
    for (const from of ['lb-1', 'server-2']) assert.equal((await code(from)).stdout, '000', `no answer from ${from}`);
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

  it('GIVEN server-1 killed (kill-host) THEN BackendServerDown fires within the bound, reaches Alertmanager, tandem alerts and the receiver, and resolves after the heal', async () => {
    const killedAt = Date.now();
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
    const isIt = (a: Pick<FiringAlert, 'name' | 'labels'>) =>
      a.name === 'BackendServerDown' && a.labels.server === 'server-1';
    const shown = await seen('firing', killedAt, FIRE_BOUND_MS, 'BackendServerDown', isIt);
    console.log(`# in tandem alerts ${shown.listed} ms, in the receiver's record ${shown.recorded} ms after kill-host`);
    const healed = await stack.run('chaos', 'heal');
    assert.equal(healed.code, 0, healed.stderr);
    const healedAt = Date.now();
    const resolved = await within(RESOLVE_BOUND_MS, 'BackendServerDown resolved', async () =>
      (await backendDown()).length === 0 ? true : undefined,
    );
    console.log(`# BackendServerDown resolved ${resolved} ms after the heal returned`);
    const gone = await seen('resolved', healedAt, RESOLVE_BOUND_MS, 'BackendServerDown', isIt);
    console.log(
      `# gone from tandem alerts ${gone.listed} ms, resolved in the receiver's record ${gone.recorded} ms after the heal`,
    );
  });

  it("GIVEN the replica's host killed (kill-db-replica) THEN ReplicaMissing on the primary shows in tandem alerts within the bound, and goes after the heal", async () => {
    await quiet();
    const { db } = await stack.status();
    const killedAt = Date.now();
    const killed = await stack.run('chaos', 'kill-host', 'db:replica');
    assert.equal(killed.code, 0, killed.stderr);
    const isIt = (a: Pick<FiringAlert, 'name' | 'host'>) => a.name === 'ReplicaMissing' && a.host === db.primary;
    const fired = await seen('firing', killedAt, REPLICA_FIRE_BOUND_MS, 'ReplicaMissing', isIt);
    console.log(
      `# ReplicaMissing on ${db.primary}: in tandem alerts ${fired.listed} ms, recorded ${fired.recorded} ms after kill-host db:replica`,
    );
    const alerts = await tandemAlerts();
    console.log(`# firing then: ${alerts.map((a) => `${a.name}@${a.host ?? '-'}(${a.state})`).join(', ')}`);
    const healed = await stack.run('chaos', 'heal');
    assert.equal(healed.code, 0, healed.stderr);
    const gone = await seen('resolved', Date.now(), REPLICA_RESOLVE_BOUND_MS, 'ReplicaMissing', isIt);
    console.log(
      `# ReplicaMissing gone from tandem alerts ${gone.listed} ms, recorded resolved ${gone.recorded} ms after the heal`,
    );
  });

  it("GIVEN the active LB's host killed (kill-lb) THEN VipNoStandby shows in tandem alerts within the bound, and goes after the heal", async () => {
    await quiet();
    const killedAt = Date.now();
    const killed = await stack.run('chaos', 'kill-host', 'lb:active');
    assert.equal(killed.code, 0, killed.stderr);
    const isIt = (a: Pick<FiringAlert, 'name'>) => a.name === 'VipNoStandby';
    const fired = await seen('firing', killedAt, VIP_FIRE_BOUND_MS, 'VipNoStandby', isIt);
    console.log(
      `# VipNoStandby: in tandem alerts ${fired.listed} ms, recorded ${fired.recorded} ms after kill-host lb:active`,
    );
    const alerts = await tandemAlerts();
    console.log(`# firing then: ${alerts.map((a) => `${a.name}@${a.host ?? '-'}(${a.state})`).join(', ')}`);
    // The VIP moved: the other LB holds it, and neither the dead LB's stale state nor a split brain shows.
    assert.equal(alerts.filter((a) => a.name === 'VipHeldByTwoLbs' || a.name === 'VipHeldByNoLb').length, 0);
    const healed = await stack.run('chaos', 'heal');
    assert.equal(healed.code, 0, healed.stderr);
    const gone = await seen('resolved', Date.now(), VIP_RESOLVE_BOUND_MS, 'VipNoStandby', isIt);
    console.log(
      `# VipNoStandby gone from tandem alerts ${gone.listed} ms, recorded resolved ${gone.recorded} ms after the heal`,
    );
    // One master and one standby again, as both LBs report it.
    await within(10_000, 'both LBs report their VRRP state', async () => {
      const vrrp = await byHost('tandem_vrrp_master');
      return Object.values(vrrp).sort().join() === '0,1' ? vrrp : undefined;
    });
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
