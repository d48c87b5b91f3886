import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import {
  blackboxExporterEngine,
  mysqldExporterEngine,
  nginxExporterEngine,
  nodeExporterEngine,
  textfileDir,
} from '../../src/engines/exporters.ts';
import { alertmanagerEngine, prometheusEngine } from '../../src/engines/prometheus.ts';
import { installed, run } from './fixtures/plans.ts';

/** Paths as servicePaths makes them; the monitor's kinds are not service kinds yet, so the config name is set here. */
function pathsOf(dir: string, config: string) {
  return { ...servicePaths({ dir, kind: 'etcd' }), config: `${dir}/${config}` };
}

const prom = pathsOf('/s/hosts/monitor/prometheus', 'prometheus.yml');
const am = pathsOf('/s/hosts/monitor/alertmanager', 'alertmanager.yml');
const bb = pathsOf('/s/hosts/monitor/blackbox', 'blackbox.yml');
const node = pathsOf('/s/hosts/server-1/node-exporter', '');
const mysqld = pathsOf('/s/hosts/server-1/mysqld-exporter', 'my.cnf');

describe('prometheusEngine and alertmanagerEngine', () => {
  it('run in the foreground on the given address, data in the service folder', () => {
    assert.deepEqual(prometheusEngine.runCommand(prom, '10.77.0.15:9090'), [
      '/usr/bin/prometheus',
      '--config.file=/s/hosts/monitor/prometheus/prometheus.yml',
      '--storage.tsdb.path=/s/hosts/monitor/prometheus/data',
      '--storage.tsdb.retention.time=2d',
      '--web.listen-address=10.77.0.15:9090',
      '--web.console.templates=',
      '--web.console.libraries=',
    ]);
    assert.deepEqual(alertmanagerEngine.runCommand(am, '10.77.0.15:9093'), [
      '/usr/bin/prometheus-alertmanager',
      '--config.file=/s/hosts/monitor/alertmanager/alertmanager.yml',
      '--storage.path=/s/hosts/monitor/alertmanager/data',
      '--web.listen-address=10.77.0.15:9093',
      '--cluster.listen-address=',
    ]);
  });

  it("check with the engines' own tools, reload on SIGHUP, and are ready on /-/ready", () => {
    assert.deepEqual(prometheusEngine.checkCommand(prom), [
      '/usr/bin/promtool',
      'check',
      'config',
      '/s/hosts/monitor/prometheus/prometheus.yml',
    ]);
    assert.deepEqual(alertmanagerEngine.checkCommand(am), [
      '/usr/bin/amtool',
      'check-config',
      '/s/hosts/monitor/alertmanager/alertmanager.yml',
    ]);
    for (const engine of [prometheusEngine, alertmanagerEngine]) {
      assert.equal(engine.reloadSignal, 'SIGHUP');
      assert.equal(engine.readyPath, '/-/ready');
    }
  });
});

describe('the exporters', () => {
  it('node: its own textfile directory, no systemd collector', () => {
    assert.equal(textfileDir(node), '/s/hosts/server-1/node-exporter/textfile');
    assert.deepEqual(nodeExporterEngine.runCommand(node, '10.77.0.13:9100'), [
      '/usr/bin/prometheus-node-exporter',
      '--web.listen-address=10.77.0.13:9100',
      '--collector.textfile.directory=/s/hosts/server-1/node-exporter/textfile',
      '--no-collector.systemd',
    ]);
  });

  it('mysqld: credentials from its my.cnf, never argv', () => {
    const argv = mysqldExporterEngine.runCommand(mysqld, '10.77.0.13:9104');
    assert.deepEqual(argv, [
      '/usr/bin/prometheus-mysqld-exporter',
      '--config.my-cnf=/s/hosts/server-1/mysqld-exporter/my.cnf',
      '--web.listen-address=10.77.0.13:9104',
      '--no-collect.info_schema.query_response_time',
    ]);
    assert.ok(argv.every((a) => !/password/i.test(a)));
  });

  it("nginx: reads the host's stub_status and retries while nginx starts", () => {
    assert.deepEqual(nginxExporterEngine.runCommand(node, '10.77.0.13:9113', 'http://10.77.0.13:80/nginx_status'), [
      '/usr/bin/prometheus-nginx-exporter',
      '-web.listen-address=10.77.0.13:9113',
      '-nginx.scrape-uri=http://10.77.0.13:80/nginx_status',
      '-nginx.retries=10',
      '-nginx.retry-interval=1s',
    ]);
  });

  it('blackbox: checks its modules with --config.check and is healthy on /-/healthy', () => {
    assert.deepEqual(blackboxExporterEngine.checkCommand(bb), [
      '/usr/bin/prometheus-blackbox-exporter',
      '--config.file=/s/hosts/monitor/blackbox/blackbox.yml',
      '--config.check',
    ]);
    assert.equal(blackboxExporterEngine.readyPath, '/-/healthy');
  });

  it(
    'every binary the builders name is where Debian 12 puts it',
    { skip: !installed('/usr/bin/prometheus') && 'the monitoring packages are not installed' },
    () => {
      const engines = [
        prometheusEngine,
        alertmanagerEngine,
        nodeExporterEngine,
        mysqldExporterEngine,
        nginxExporterEngine,
        blackboxExporterEngine,
      ];
      for (const binary of engines.flatMap((e) => e.binaries)) assert.ok(installed(binary.path), binary.path);
      const version = run([nginxExporterEngine.binary, '-version']);
      assert.equal(version.status, 0);
      assert.match(version.stdout + version.stderr, /version=0\.11\./);
    },
  );
});
