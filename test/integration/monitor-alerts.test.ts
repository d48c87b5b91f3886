/**
 * The monitor's rendered files with the real engines (not yet through `tandem up`):
 * Prometheus, Alertmanager and node_exporter from Debian's packages on a loopback plan
 * with a monitor host, and tandem's own webhook receiver (src/alert-receiver/) in this
 * process. A host whose node_exporter does not run must reach the receiver's record as
 * HostDown, the monitor host must not, and HostDown must resolve once that host's
 * exporter runs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ServicePaths, servicePaths } from '../../src/config/paths.ts';
import { resolve } from '../../src/config/resolve.ts';
import type { Plan, PlanHost } from '../../src/config/types.ts';
import { nodeExporterEngine, textfileDir } from '../../src/engines/exporters.ts';
import { alertmanagerEngine, prometheusEngine } from '../../src/engines/prometheus.ts';
import { renderAlertRules } from '../../src/render/alert-rules.ts';
import { renderAlertmanager, WEBHOOK_PATH } from '../../src/render/alertmanager.ts';
import { ALERT_RULES_FILE, renderPrometheus } from '../../src/render/prometheus.ts';
import { NotificationLog, type NotificationRecord, readRecords } from '../../src/alert-receiver/record.ts';
import { buildReceiver } from '../../src/alert-receiver/server.ts';

/**
 * From Prometheus' start: its first scrapes and evaluations, HostDown's `for` (10 s), an
 * evaluation (5 s) and Alertmanager's group_wait (2 s). Measured: 21.8, 24.6 and 25.7 s.
 */
const FIRE_BOUND_MS = 40_000;
/**
 * From the exporter's start: a scrape (5 s), an evaluation (5 s), then Alertmanager's
 * group_interval (5 s) at worst for the resolved notice. Measured: 9.3 s (7.7 and 8.9 s
 * with a 10 s group_interval).
 */
const RESOLVE_BOUND_MS = 16_000;

const available = fs.existsSync(prometheusEngine.binary) && fs.existsSync(alertmanagerEngine.binary);

describe(
  'the rendered monitor files in the real Prometheus and Alertmanager',
  { skip: !available && 'the monitoring packages are not installed' },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-monitor-'));
    const plan: Plan = resolve(
      {
        network: { subnet: '127.66.0.0/24' },
        hosts: [
          { name: 'lb-1', roles: ['lb'] },
          { name: 'server-1', roles: ['web', 'app', 'db'] },
          { name: 'monitor', roles: ['monitor'] },
        ],
        database: { primary: 'server-1' },
      },
      { projectDir: dir, bundledAppDir: path.join(dir, 'app'), defaultHosting: 'loopback' },
    );
    const monitor = plan.monitor!;
    const host = (name: string): PlanHost => plan.hosts.find((h) => h.name === name)!;
    const children: ChildProcess[] = [];
    const recordFile = path.join(dir, 'notifications.jsonl');
    const receiver = buildReceiver({ record: new NotificationLog(recordFile, 1000), path: WEBHOOK_PATH });
    const started = Date.now();

    /** Starts an engine's argv with its output in `<dir>/<name>.log`; killed by pid in `after`. */
    function start(name: string, argv: readonly string[]): void {
      const log = fs.openSync(path.join(dir, `${name}.log`), 'a');
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', log, log] });
      children.push(child);
    }

    /** A service folder on a host, with its data folder (the monitor's kinds are not service kinds yet). */
    function paths(hostName: string, service: string, config: string): ServicePaths {
      const d = path.join(host(hostName).dir, service);
      const p = { ...servicePaths({ dir: d, kind: 'etcd' }), config: path.join(d, config) };
      fs.mkdirSync(p.data, { recursive: true });
      return p;
    }

    function startNodeExporter(hostName: string): void {
      const p = paths(hostName, 'node-exporter', '');
      fs.mkdirSync(textfileDir(p), { recursive: true });
      start(
        `node-exporter-${hostName}`,
        nodeExporterEngine.runCommand(p, `${host(hostName).address}:${monitor.exporterPorts.node}`),
      );
    }

    /** Waits for a record of the receiver that `match` accepts; returns when it arrived. */
    async function noticeOf(match: (r: NotificationRecord) => boolean, boundMs: number, what: string): Promise<number> {
      const deadline = Date.now() + boundMs;
      while (Date.now() < deadline) {
        const found = readRecords(recordFile).find(match);
        if (found) return Date.parse(found.receivedAt);
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`${what} did not reach the webhook within ${boundMs} ms; logs in ${dir}`);
    }

    const hostDown = (status: string, hostName: string) => (r: NotificationRecord) =>
      r.status === status && r.alertname === 'HostDown' && r.host === hostName;

    before(async () => {
      await receiver.listen({ port: monitor.webhookPort, host: monitor.address });
      const prom = paths('monitor', 'prometheus', 'prometheus.yml');
      fs.writeFileSync(prom.config, renderPrometheus(plan));
      fs.writeFileSync(path.join(prom.dir, ALERT_RULES_FILE), renderAlertRules(plan));
      const am = paths('monitor', 'alertmanager', 'alertmanager.yml');
      fs.writeFileSync(am.config, renderAlertmanager(plan));
      start('alertmanager', alertmanagerEngine.runCommand(am, `${monitor.address}:${monitor.alertmanagerPort}`));
      start('prometheus', prometheusEngine.runCommand(prom, `${monitor.address}:${monitor.prometheusPort}`));
      startNodeExporter('monitor');
    });

    after(async () => {
      for (const child of children) if (child.pid) process.kill(child.pid, 'SIGTERM');
      await Promise.all(
        children.map((c) =>
          c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null,
        ),
      );
      await receiver.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('GIVEN lb-1 without a node exporter THEN HostDown for lb-1 reaches the webhook within the bound, and none for the monitor', async () => {
      const fired = await noticeOf(hostDown('firing', 'lb-1'), FIRE_BOUND_MS, 'HostDown for lb-1');
      console.log(`# HostDown for lb-1 reached the webhook ${fired - started} ms after Prometheus started`);
      assert.equal(readRecords(recordFile).some(hostDown('firing', 'monitor')), false);
      const targets = (await (
        await fetch(`http://${monitor.address}:${monitor.prometheusPort}/api/v1/targets?state=active`)
      ).json()) as { data: { activeTargets: { labels: Record<string, string>; health: string }[] } };
      const nodes = targets.data.activeTargets.filter((t) => t.labels.job === 'node');
      assert.deepEqual(nodes.map((t) => [t.labels.host, t.health]).sort(), [
        ['lb-1', 'down'],
        ['monitor', 'up'],
        ['server-1', 'down'],
      ]);
    });

    it('WHEN lb-1 gets its node exporter THEN HostDown for lb-1 resolves at the webhook within the bound', async () => {
      const since = Date.now();
      startNodeExporter('lb-1');
      const resolved = await noticeOf(
        (r) => Date.parse(r.receivedAt) >= since && hostDown('resolved', 'lb-1')(r),
        RESOLVE_BOUND_MS,
        'the resolved HostDown for lb-1',
      );
      console.log(`# HostDown for lb-1 resolved at the webhook ${resolved - since} ms after its exporter started`);
    });
  },
);
