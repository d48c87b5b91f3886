/**
 * A throwaway single-member etcd for integration tests: on a loopback address, with its
 * own data folder, started and killed by PID. Heartbeat and election timeout are set for
 * a LAN (50 ms / 500 ms) so that a 1 s lease TTL is above etcd's floor.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, killChild } from './mariadb.ts';

/** Every etcd started by this process, killed on exit even when a test forgot. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class EtcdMember {
  readonly endpoint: string;
  private child: ChildProcess | undefined;

  private constructor(
    readonly address: string,
    readonly dir: string,
  ) {
    this.endpoint = `http://${address}:2379`;
  }

  static async start(address: string): Promise<EtcdMember> {
    const member = new EtcdMember(address, await mkdtemp(join(tmpdir(), 'tandem-etcd-')));
    await member.resume();
    return member;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** Starts (or restarts, on the same data) the member and waits until it answers. */
  async resume(): Promise<void> {
    const a = this.address;
    const log = openSync(join(this.dir, 'etcd.log'), 'a');
    const child = spawn(
      '/usr/bin/etcd',
      [
        '--name=test',
        `--data-dir=${join(this.dir, 'data')}`,
        `--listen-client-urls=http://${a}:2379`,
        `--advertise-client-urls=http://${a}:2379`,
        `--listen-peer-urls=http://${a}:2380`,
        `--initial-advertise-peer-urls=http://${a}:2380`,
        `--initial-cluster=test=http://${a}:2380`,
        '--heartbeat-interval=50',
        '--election-timeout=500',
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    this.child = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`etcd exited during start-up:\n${this.logTail()}`);
        try {
          const res = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(500) });
          return res.ok && ((await res.json()) as { health?: string }).health === 'true';
        } catch {
          return false;
        }
      },
      'etcd to answer /health',
      15_000,
    );
  }

  /** SIGKILL by PID, and wait for the exit. */
  async kill(): Promise<void> {
    await killChild(this.child);
  }

  async destroy(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(join(this.dir, 'etcd.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
