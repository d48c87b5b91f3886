/**
 * etcd, the consensus store of database failover: its certificates from tandem's CA,
 * a member's readiness, and the cluster's state for `tandem status`. Every etcdctl call
 * runs inside a member's namespace on netns (the firewall admits only members and the
 * db hosts) and presents the client certificate (client-cert-auth is on).
 */
import fs from 'node:fs';
import path from 'node:path';
import { servicePaths } from '../config/paths.ts';
import { hostOf } from '../config/resolve.ts';
import type { Plan, PlanEtcd, PlanEtcdMember } from '../config/types.ts';
import { etcdEngine, etcdMemberTls } from '../engines/etcd.ts';
import { type CertFiles, renderEtcdExtensions, tlsTool } from '../engines/tls.ts';
import { probeInNamespace } from '../hosts/netns.ts';
import { ProcessError, run } from '../hosts/process.ts';
import { etcdClientUrls, etcdUrl } from '../render/etcd.ts';
import { ensureCa, openssl } from './tls.ts';

const etcdOf = (plan: Plan): PlanEtcd => {
  if (!plan.etcd) throw new Error('the plan has no etcd (database.failover is off)');
  return plan.etcd;
};

/** The files of one certificate whose key and certificate are `key` and `cert`. */
function certFiles(key: string, cert: string): CertFiles {
  const base = cert.replace(/\.crt$/, '');
  return { key, cert, csr: `${base}.csr`, extensions: `${base}.ext` };
}

/**
 * Makes one certificate unless it exists with these extensions, signed by this CA (the
 * record is written once it verified, so a failed run is redone). True when made.
 */
async function ensureCert(plan: Plan, files: CertFiles, commonName: string, extensions: string): Promise<boolean> {
  const made = `${files.extensions}.made`;
  const wanted = `${extensions}\n${fs.readFileSync(plan.tls.caCert, 'utf8')}`;
  if (fs.existsSync(files.cert) && fs.existsSync(files.key) && fs.existsSync(made)) {
    if (fs.readFileSync(made, 'utf8') === wanted) return false;
  }
  fs.rmSync(made, { force: true });
  fs.mkdirSync(path.dirname(files.cert), { recursive: true });
  fs.writeFileSync(files.extensions, extensions);
  await openssl(tlsTool.keyCommand(files.key));
  await openssl(tlsTool.csrCommand(files, commonName));
  await openssl(tlsTool.signCommand(plan.tls, files));
  await run(tlsTool.verifyCommand({ ...plan.tls, cert: files.cert }));
  fs.chmodSync(files.key, 0o600);
  fs.writeFileSync(made, wanted);
  return true;
}

/**
 * tandem's CA (made even when site TLS is off or the user supplied the site's
 * certificate), a certificate per member for its address in its service folder with a
 * copy of the CA beside it, and the client certificate of `plan.etcd.tls`.
 */
export async function ensureEtcdTls(plan: Plan): Promise<boolean> {
  const etcd = etcdOf(plan);
  const caMade = await ensureCa(plan);
  const ca = fs.readFileSync(plan.tls.caCert, 'utf8');
  // Each certificate has its own files (and OpenSSL picks random serials): all made at once.
  const made = await Promise.all([
    ...etcd.members.map(async (member) => {
      const tls = etcdMemberTls(memberPaths(plan, member));
      const files = certFiles(tls.key, tls.cert);
      const extensions = renderEtcdExtensions({ addresses: memberAddresses(plan, member) });
      let changed = await ensureCert(plan, files, `etcd ${member.name}`, extensions);
      if (!fs.existsSync(tls.ca) || fs.readFileSync(tls.ca, 'utf8') !== ca) {
        fs.writeFileSync(tls.ca, ca);
        changed = true;
      }
      return changed;
    }),
    ensureCert(
      plan,
      certFiles(etcd.tls.clientKey, etcd.tls.clientCert),
      `tandem ${plan.name}`,
      renderEtcdExtensions('client'),
    ),
  ]);
  return caMade || made.includes(true);
}

/** The addresses a member's certificate names: its own, and 127.0.0.1 on loopback (see renderEtcdExtensions). */
function memberAddresses(plan: Plan, member: PlanEtcdMember): string[] {
  return plan.hosting === 'loopback' ? [member.address, '127.0.0.1'] : [member.address];
}

function memberPaths(plan: Plan, member: PlanEtcdMember) {
  const service = plan.services.find((s) => s.kind === 'etcd' && s.host === member.host)!;
  return servicePaths(service);
}

/** etcdctl from inside `member`'s host (its namespace on netns). */
function etcdctl(plan: Plan, member: PlanEtcdMember, endpoints: readonly string[], args: readonly string[]) {
  const argv = etcdEngine.ctlCommand(etcdOf(plan), endpoints, args);
  return run(probeInNamespace(hostOf(plan, member.host), argv), { timeoutMs: 5_000 });
}

/** Ready: the member answers `endpoint health` on its own client URL (which needs a quorum). */
export async function etcdMemberHealthy(plan: Plan, host: string): Promise<boolean> {
  const etcd = etcdOf(plan);
  const member = etcd.members.find((m) => m.host === host)!;
  return etcdctl(plan, member, [etcdUrl(member.address, etcd.clientPort)], ['endpoint', 'health'])
    .then(() => true)
    .catch(() => false);
}

export interface EtcdMemberStatus {
  readonly name: string;
  readonly address: string;
  /** It answered `endpoint status` (through the cluster's member list). */
  readonly healthy: boolean;
  /** It is the raft leader. */
  readonly leader: boolean;
  readonly raftTerm: number | null;
  readonly dbSizeBytes: number | null;
}

export interface EtcdStatus {
  /** Name of the member that leads, or null: none answers, or no quorum. */
  readonly leader: string | null;
  readonly raftTerm: number | null;
  readonly members: readonly EtcdMemberStatus[];
}

/** One row of `etcdctl endpoint status -w json`. */
interface EndpointRow {
  Endpoint: string;
  Status: { header: { member_id: string; raft_term: number }; leader: string; dbSize: number };
}

/**
 * `etcdctl endpoint status --cluster -w json`, asked of each member in turn until one
 * answers (a dead or cut-off member cannot). A member missing from the answer is unhealthy.
 * The leader is the member that says it leads: a cut-off former leader, unreachable, is absent.
 */
export async function etcdStatus(plan: Plan): Promise<EtcdStatus> {
  const etcd = etcdOf(plan);
  let rows: EndpointRow[] = [];
  for (const member of etcd.members) {
    const args = ['endpoint', 'status', '--cluster', '-w', 'json'];
    // With a member down, etcdctl prints the others' rows and exits 1: keep the rows.
    const output = await etcdctl(plan, member, [etcdUrl(member.address, etcd.clientPort)], args).then(
      (r) => r.stdout,
      (err: unknown) => (err instanceof ProcessError ? err.stderr : ''),
    );
    const json = output.split('\n').find((l) => l.startsWith('['));
    if (!json) continue; // this member did not answer: ask the next
    // Member ids are uint64, beyond a double's precision: read them as strings.
    rows = JSON.parse(json.replace(/"(member_id|leader|cluster_id)":(\d+)/g, '"$1":"$2"')) as EndpointRow[];
    break;
  }
  const urls = etcdClientUrls(etcd);
  const members = etcd.members.map((m, i): EtcdMemberStatus => {
    const row = rows.find((r) => r.Endpoint === urls[i]);
    return {
      name: m.name,
      address: m.address,
      healthy: row !== undefined,
      leader: row !== undefined && row.Status.leader === row.Status.header.member_id,
      raftTerm: row?.Status.header.raft_term ?? null,
      dbSizeBytes: row?.Status.dbSize ?? null,
    };
  });
  const leader = members.find((m) => m.leader);
  return { leader: leader?.name ?? null, raftTerm: leader?.raftTerm ?? null, members };
}
