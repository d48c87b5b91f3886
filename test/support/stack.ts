/**
 * Test support: a stack in its own temp project folder and subnet, driven through
 * the public CLI, torn down (destroy) when the test ends, also when it fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { servicePaths } from '../../src/config/paths.ts';
import { linkPrefix } from '../../src/config/resolve.ts';
import { DEFAULT_PRIMARY, defaultHostsFor } from '../../src/config/defaults.ts';
import type { HostConfig, StackConfig } from '../../src/config/types.ts';
import { killTree } from '../../src/hosts/proc.ts';
import type { SupervisorState } from '../../src/hosts/supervise.ts';
import { type ExecResult, exec } from './exec.ts';
import type { ScenarioReport } from '../../src/chaos/run.ts';
import type { FinalState, NodeState } from '../../src/chaos/history.ts';
import type { StackStatus } from '../../src/orchestrate/status.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(REPO, 'bin/tandem.js');

export type CliResult = ExecResult;

export function cli(args: string[], cwd: string, timeoutMs = 180_000): Promise<CliResult> {
  return exec([process.execPath, BIN, ...args], timeoutMs, cwd);
}

export class TestStack {
  readonly dir: string;
  readonly configFile: string;

  readonly name: string;

  /**
   * A config without `hosts` gets the default design without its monitor host, unless
   * `monitored`: the monitor's dozen extra processes would slow every test that is not
   * about monitoring on a 2-core machine (monitor-up.test.ts and netns.test.ts keep it).
   */
  constructor(
    readonly label: string,
    config: StackConfig,
    opts: { monitored?: boolean } = {},
  ) {
    this.name = config.name ?? 'foobar';
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `tandem-${label}-`));
    this.configFile = path.join(this.dir, 'tandem.config.ts');
    this.monitored = opts.monitored === true;
    this.writeConfig(config);
  }

  private readonly monitored: boolean;

  /** Writes the config; every later version too leaves the monitor out unless `monitored`. */
  writeConfig(config: StackConfig): void {
    const written =
      config.hosts || this.monitored
        ? config
        : // Hosts named: the config then names its primary too (the default design's).
          { ...config, hosts: unmonitoredHosts(config), database: { primary: DEFAULT_PRIMARY, ...config.database } };
    fs.writeFileSync(this.configFile, `export default ${JSON.stringify(written, null, 2)};\n`);
  }

  run(...args: string[]): Promise<CliResult> {
    return cli([...args, '--config', this.configFile], this.dir);
  }

  async up(): Promise<CliResult> {
    const r = await this.run('up');
    if (r.code !== 0) throw new Error(`tandem up failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return r;
  }

  /** `tandem chaos run <name> --json`: its exit code and report (an error when it printed none). */
  async scenario(name: string): Promise<{ code: number; report: ScenarioReport; stderr: string }> {
    const r = await this.run('chaos', 'run', name, '--json');
    try {
      return { code: r.code, report: JSON.parse(r.stdout) as ScenarioReport, stderr: r.stderr };
    } catch {
      throw new Error(`chaos run ${name} printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  }

  async status(): Promise<StackStatus> {
    const r = await this.run('status', '--json');
    if (r.code !== 0) throw new Error(`tandem status failed (${r.code}):\n${r.stderr}`);
    return JSON.parse(r.stdout) as StackStatus;
  }

  /** destroy, then make sure no process this stack started is left, whatever happened. */
  async cleanup(): Promise<void> {
    const r = await this.run('destroy', '--yes').catch(() => undefined);
    if (r?.code !== 0) process.stderr.write(`destroy failed: ${r?.stdout}\n${r?.stderr}\n`);
    killLeftovers(path.join(this.dir, '.tandem'));
    if (r?.code !== 0) removeNamespaces(this.name);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The default hosts of the config's hosting, less the monitor host. */
function unmonitoredHosts(config: StackConfig): HostConfig[] {
  const hosting = config.hosting ?? (process.getuid?.() === 0 ? 'netns' : 'loopback');
  return defaultHostsFor(hosting)
    .filter((h) => !h.roles.includes('monitor'))
    .map((h) => ({ ...h, roles: [...h.roles] }));
}

/**
 * Kills, by recorded PID and start time, any supervisor or engine still running from a
 * state folder: a PID whose start time differs is some other process, and is left alone.
 */
export function killLeftovers(stateDir: string): void {
  const hostsDir = path.join(stateDir, 'hosts');
  if (!fs.existsSync(hostsDir)) return;
  for (const host of fs.readdirSync(hostsDir)) {
    for (const kind of fs.readdirSync(path.join(hostsDir, host))) {
      try {
        const paths = servicePaths({ dir: path.join(hostsDir, host, kind), kind: kind as 'app' });
        const sup = JSON.parse(fs.readFileSync(paths.supervisor, 'utf8')) as SupervisorState;
        killTree({ pid: sup.supervisorPid, startTime: sup.supervisorStartTime });
        if (sup.pid && sup.startTime !== null) killTree({ pid: sup.pid, startTime: sup.startTime });
      } catch {}
    }
  }
}

export function serviceOf(status: StackStatus, id: string) {
  const svc = status.hosts.flatMap((h) => h.services).find((s) => s.id === id);
  if (!svc) throw new Error(`no service ${id} in status`);
  return svc;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Last resort when destroy failed: delete the stack's namespaces (their veths go with them). */
export function removeNamespaces(name: string): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const ns of list.split('\n').map((l) => l.split(' ')[0]!)) {
    if (ns.startsWith(`tandem-${name}-`)) spawnSync('ip', ['netns', 'del', ns]);
  }
  spawnSync('ip', ['link', 'del', `${linkPrefix(name)}br`]);
}

/**
 * PIDs of live processes whose command line, environment or working directory names
 * `dir` (what a stack started: engines name their config there, apps get their secret
 * files' paths, nginx workers run in their service's folder).
 */
export function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const names = (file: string) => fs.readFileSync(`/proc/${entry}/${file}`, 'utf8').includes(dir);
      // nginx workers name nothing, but run where their master was started: the service dir.
      const inside = () => fs.readlinkSync(`/proc/${entry}/cwd`).startsWith(dir);
      if (names('cmdline') || names('environ') || inside()) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

/** The database nodes as the chaos run read them after its heal (its history's `final` record). */
export function finalNodes(report: ScenarioReport): NodeState[] {
  assert.ok(report.historyFile, `${report.scenario}: no history file`);
  const line = fs
    .readFileSync(report.historyFile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('{"type":"final"'));
  assert.ok(line, `${report.historyFile} has no final state`);
  return (JSON.parse(line) as FinalState).nodes as NodeState[];
}
