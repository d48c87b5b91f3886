/**
 * The stack's keys in etcd as tandem reaches them from where it runs. On loopback, the
 * etcd client over HTTPS; on netns, the firewall admits etcd's clients only from the
 * members and the database hosts, so tandem runs etcdctl inside a database host's
 * namespace, as a sentinel there would reach it.
 */
import { hostOf } from '../config/resolve.ts';
import type { Plan } from '../config/types.ts';
import { EtcdClient, type KeyValue } from '../etcd/client.ts';
import { parseRange } from '../etcd/wire.ts';
import { etcdEngine } from '../engines/etcd.ts';
import { TandemError } from '../errors.ts';
import { probeInNamespace } from '../hosts/netns.ts';
import { run } from '../hosts/process.ts';
import { dbHostsOf } from './database/instance.ts';
import { etcdClientUrls } from '../render/etcd.ts';

/** What switchover, failover and status need of etcd. */
export interface EtcdKv {
  get(key: string): Promise<KeyValue | null>;
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** Lets the process exit (the HTTPS client keeps connections open). */
  close(): void;
}

export function etcdKv(plan: Plan): EtcdKv {
  const etcd = plan.etcd;
  if (!etcd) throw new Error('the plan has no etcd (database.failover is off)');
  if (plan.hosting !== 'netns') {
    return new EtcdClient({
      endpoints: etcdClientUrls(etcd),
      ca: etcd.tls.ca,
      cert: etcd.tls.clientCert,
      key: etcd.tls.clientKey,
      timeoutMs: 1000,
    });
  }
  const hosts = dbHostsOf(plan).map((h) => hostOf(plan, h));
  let preferred = 0;
  // etcdctl from the first database host whose namespace reaches a quorum (a cut-off one cannot).
  const ctl = async (args: string[]): Promise<string> => {
    const failures: string[] = [];
    for (let i = 0; i < hosts.length; i++) {
      const host = hosts[(preferred + i) % hosts.length]!;
      try {
        const argv = etcdEngine.ctlCommand(etcd, etcdClientUrls(etcd), ['--command-timeout=2s', ...args]);
        const { stdout } = await run(probeInNamespace(host, argv), { timeoutMs: 5000 });
        preferred = (preferred + i) % hosts.length;
        return stdout;
      } catch (err) {
        failures.push(`${host.name}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    throw new TandemError('TANDEM_STATE', `etcd did not answer: ${failures.join('; ')}`, 'see `tandem status`');
  };
  return {
    async get(key) {
      return parseRange(JSON.parse(await ctl(['get', key, '-w', 'json'])))[0] ?? null;
    },
    async put(key, value) {
      await ctl(['put', key, value]);
    },
    async delete(key) {
      await ctl(['del', key]);
    },
    close() {},
  };
}
