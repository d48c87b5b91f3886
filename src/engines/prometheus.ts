/**
 * Prometheus 2.42 and Alertmanager 0.25 (Debian `prometheus`, `prometheus-alertmanager`)
 * on the monitor host, in the foreground, each with its data in its service folder
 * (Debian's defaults are /var/lib/prometheus/...). Both re-read their config on SIGHUP
 * and say they are ready on `/-/ready`.
 */
import type { ListeningEngine } from './types.ts';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';
const AMTOOL = '/usr/bin/amtool';

/** Metrics are kept this long: the dashboard shows 15 minutes, alerts look back 10. */
export const PROMETHEUS_RETENTION = '2d';

export const prometheusEngine: ListeningEngine = {
  name: 'prometheus',
  binary: PROMETHEUS,
  debianPackage: 'prometheus',
  binaries: [
    { path: PROMETHEUS, debianPackage: 'prometheus' },
    { path: PROMTOOL, debianPackage: 'prometheus' },
  ],
  // Also checks the rule files it names and that the TLS files exist.
  checkCommand: (paths) => [PROMTOOL, 'check', 'config', paths.config],
  runCommand: (paths, listen) => [
    PROMETHEUS,
    `--config.file=${paths.config}`,
    `--storage.tsdb.path=${paths.data}`,
    `--storage.tsdb.retention.time=${PROMETHEUS_RETENTION}`,
    `--web.listen-address=${listen}`,
    // Debian's console templates live in /etc/prometheus; tandem's dashboard replaces them.
    '--web.console.templates=',
    '--web.console.libraries=',
  ],
  readyPath: '/-/ready',
  reloadSignal: 'SIGHUP',
  // SIGTERM: it flushes the head block and closes the TSDB.
  stopSignal: 'SIGTERM',
  stopGraceMs: 15_000,
};

export const alertmanagerEngine: ListeningEngine = {
  name: 'alertmanager',
  binary: ALERTMANAGER,
  debianPackage: 'prometheus-alertmanager',
  binaries: [
    { path: ALERTMANAGER, debianPackage: 'prometheus-alertmanager' },
    { path: AMTOOL, debianPackage: 'prometheus-alertmanager' },
  ],
  checkCommand: (paths) => [AMTOOL, 'check-config', paths.config],
  runCommand: (paths, listen) => [
    ALERTMANAGER,
    `--config.file=${paths.config}`,
    `--storage.path=${paths.data}`,
    `--web.listen-address=${listen}`,
    // One Alertmanager: an empty address turns the gossip cluster off (else it binds 0.0.0.0:9094).
    '--cluster.listen-address=',
  ],
  readyPath: '/-/ready',
  reloadSignal: 'SIGHUP',
  stopSignal: 'SIGTERM',
  stopGraceMs: 10_000,
};
