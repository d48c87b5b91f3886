/**
 * etcd 3.4 (Debian `etcd-server`), the consensus store of database failover, one member
 * per host of `plan.etcd`, in the foreground. It reads only the rendered YAML file
 * (`--config-file`: every command-line flag and ETCD_* variable is then ignored).
 *
 * etcd has no check mode (`--version` and `--help` never read the file), so the check
 * verifies the material the file points at: the member's certificate chains to the CA
 * copy beside it. etcdctl (Debian `etcd-client`) is the one client tandem runs; every
 * call presents the client certificate (client-cert-auth is on).
 */
import path from 'node:path';
import type { ServicePaths } from '../config/paths.ts';
import type { PlanEtcd } from '../config/types.ts';
import type { Engine } from './types.ts';

const ETCD = '/usr/bin/etcd';
const ETCDCTL = '/usr/bin/etcdctl';
const OPENSSL = '/usr/bin/openssl';

/** The member's own TLS material, in its service folder (made by orchestrate/etcd-tls.ts). */
export interface EtcdMemberTls {
  /** A copy of tandem's CA certificate: peers and clients must chain to it. */
  readonly ca: string;
  /** Server and client certificate for both its client and its peer port (SAN: its address). */
  readonly cert: string;
  /** 0600. */
  readonly key: string;
}

export function etcdMemberTls(paths: Pick<ServicePaths, 'dir'>): EtcdMemberTls {
  return {
    ca: path.join(paths.dir, 'ca.crt'),
    cert: path.join(paths.dir, 'member.crt'),
    key: path.join(paths.dir, 'member.key'),
  };
}

export interface EtcdEngine extends Engine {
  /**
   * etcdctl against `endpoints` with the client certificate, v3 API, bounded by a
   * command timeout (its default waits 5 s for a dead endpoint).
   */
  ctlCommand(etcd: Pick<PlanEtcd, 'tls'>, endpoints: readonly string[], args: readonly string[]): string[];
}

export const etcdEngine: EtcdEngine = {
  name: 'etcd',
  binary: ETCD,
  debianPackage: 'etcd-server',
  binaries: [
    { path: ETCD, debianPackage: 'etcd-server' },
    { path: ETCDCTL, debianPackage: 'etcd-client' },
  ],
  checkCommand: (paths: ServicePaths): string[] => {
    const tls = etcdMemberTls(paths);
    return [OPENSSL, 'verify', '-CAfile', tls.ca, tls.cert];
  },
  runCommand: (paths: ServicePaths): string[] => [ETCD, '--config-file', paths.config],
  ctlCommand: (etcd, endpoints, args) => [
    ETCDCTL,
    `--endpoints=${endpoints.join(',')}`,
    `--cacert=${etcd.tls.ca}`,
    `--cert=${etcd.tls.clientCert}`,
    `--key=${etcd.tls.clientKey}`,
    '--dial-timeout=1s',
    '--command-timeout=2s',
    ...args,
  ],
  // etcd re-reads nothing on a signal: a changed file needs a restart (the data stays).
  reloadSignal: null,
  // SIGTERM: a leader hands leadership to another member before it exits.
  stopSignal: 'SIGTERM',
  stopGraceMs: 10_000,
};
