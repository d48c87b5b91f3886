/**
 * netns hosting: every host is a Linux network namespace with one veth on a bridge in
 * the root namespace; a `client` namespace plays the internet. The bridge gets an
 * address in the subnet *before anything else*, so the root namespace has a connected
 * route for the subnet and never sends its traffic out of the machine.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Plan, PlanHost } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import { run } from './process.ts';

const IP = '/usr/sbin/ip';
const NSENTER = '/usr/bin/nsenter';
/** Where `ip netns add` mounts each namespace. */
const NETNS_DIR = '/run/netns';

/** argv that runs `argv` inside the host's namespace (pure). `ip netns exec` execs: the PID stays. */
export function inNamespace(host: Pick<PlanHost, 'namespace'>, argv: readonly string[]): string[] {
  return host.namespace ? [IP, 'netns', 'exec', host.namespace, ...argv] : [...argv];
}

/**
 * argv that runs a short probe (curl, ss, nft, etcdctl) in the host's network namespace.
 * nsenter joins the network namespace only: no mount namespace, /sys remount or
 * /etc/netns bind mounts as `ip netns exec` makes, at about a third of its cost (17
 * against 45 ms a spawn here). Not for a command that resolves names or reads /sys.
 */
export function probeInNamespace(host: Pick<PlanHost, 'namespace'>, argv: readonly string[]): string[] {
  return host.namespace ? [NSENTER, `--net=${path.join(NETNS_DIR, host.namespace)}`, ...argv] : [...argv];
}

/**
 * What the network functions read: a stack's Plan, or the lab's hosts on their bridge
 * (src/hosts/lab.ts), which take the same namespaces, veths and bridge.
 */
export type NetworkLayout = Pick<Plan, 'network' | 'hosts' | 'client' | 'dns'> & {
  /** The config setting that names the subnet, for the error when it clashes. @default 'network.subnet' */
  readonly subnetSetting?: string;
};

/** Every namespace host of the plan, the client included. */
export function namespaceHosts(plan: NetworkLayout): PlanHost[] {
  return [...plan.hosts, ...(plan.client ? [plan.client] : [])].filter((h) => h.namespace);
}

async function ip(args: string[], allowFail = false): Promise<string> {
  try {
    return (await run([IP, ...args], { timeoutMs: 10_000 })).stdout;
  } catch (err) {
    if (allowFail) return '';
    throw err;
  }
}

export async function listNamespaces(): Promise<string[]> {
  const out = await ip(['netns', 'list'], true);
  return out
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/**
 * Several `ip` commands in one process (`ip -batch`): it stops at the first that fails,
 * or with `force` runs them all (and fails if any did). Each spawn costs `up` some
 * 10–40 ms of its own thread.
 */
async function ipBatch(commands: readonly string[], namespace?: string, force = false): Promise<void> {
  await run([IP, ...(namespace ? ['-n', namespace] : []), ...(force ? ['-force'] : []), '-batch', '-'], {
    input: `${commands.join('\n')}\n`,
    timeoutMs: 10_000,
  });
}

/**
 * Refuses a subnet that the root namespace already routes somewhere other than this
 * stack's bridge (another network, another stack): using it would send traffic there.
 */
export async function checkSubnetFree(plan: NetworkLayout): Promise<void> {
  const out = await ip(['-4', 'route', 'show', 'to', 'match', plan.network.subnet.split('/')[0]!]);
  const clash = out
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('default'))
    .filter((l) => !l.includes(`dev ${plan.network.bridge} `) && !l.endsWith(`dev ${plan.network.bridge}`));
  if (clash.length > 0) {
    throw new TandemError(
      'TANDEM_ADDRESS_IN_USE',
      `the subnet ${plan.network.subnet} is already routed on this machine: ${clash.join('; ')}`,
      `choose another ${plan.subnetSetting ?? 'network.subnet'} in tandem.config.ts (a private range nothing else uses)`,
    );
  }
}

/** Per-namespace resolv.conf: `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf. */
export function resolvConfPath(namespace: string): string {
  return path.join('/etc/netns', namespace, 'resolv.conf');
}

/** One interface as `ip -j addr show` describes it. */
interface Interface {
  readonly ifname: string;
  readonly master?: string;
  readonly flags?: readonly string[];
  readonly addr_info?: readonly { local: string; prefixlen: number }[];
}

/** Interfaces by name, in the root namespace or in `namespace` (none when it does not exist). */
async function interfaces(namespace?: string): Promise<Map<string, Interface>> {
  const out = await ip([...(namespace ? ['-n', namespace] : []), '-j', 'addr', 'show'], true);
  const list = out.trim() ? (JSON.parse(out) as Interface[]) : [];
  return new Map(list.map((i) => [i.ifname, i]));
}

/** Sets a namespace's kernel settings, then reads its interfaces (the namespace exists). */
async function interfacesAfterSysctls(host: PlanHost, settings: readonly string[]): Promise<Map<string, Interface>> {
  if (settings.length === 0) return interfaces(host.namespace);
  const script = `sysctl -q -w "$@" && exec ${IP} -j addr show`;
  // nsenter: /proc/sys/net is the joining process's namespace's; no mounts needed.
  const { stdout } = await run(probeInNamespace(host, ['sh', '-c', script, 'sh', ...settings]), { timeoutMs: 10_000 });
  const list = stdout.trim() ? (JSON.parse(stdout) as Interface[]) : [];
  return new Map(list.map((i) => [i.ifname, i]));
}

const isUp = (i: Interface | undefined) => i?.flags?.includes('UP') === true;
const hasAddress = (i: Interface | undefined, address: string, prefixLength: number) =>
  i?.addr_info?.some((a) => a.local === address && a.prefixlen === prefixLength) === true;

/**
 * The kernel settings of a host's namespace (both are per network namespace; the
 * machine's own stay as they are). The backup LB's HAProxy binds the VIP before it
 * owns it. A database gives up on an unanswered TCP peer after about 13 s of
 * retransmission (tcp_retries2=5) instead of the default 15 minutes (15): a dump
 * thread writing to a replica lost in a partition then ends soon, a reported
 * mitigation of MDEV-41349, where the primary hangs once such a replica reconnects.
 */
export function hostSysctls(host: Pick<PlanHost, 'roles'>): string[] {
  return [
    ...(host.roles.includes('lb') ? ['net.ipv4.ip_nonlocal_bind=1'] : []),
    ...(host.roles.includes('db') ? ['net.ipv4.tcp_retries2=5'] : []),
  ];
}

/** One host's namespace, veth pair and addresses. True when anything had to change. */
async function ensureHostLink(
  plan: NetworkLayout,
  host: PlanHost,
  root: Map<string, Interface>,
  namespaces: Set<string>,
): Promise<boolean> {
  const { bridge, prefixLength, hostInterface } = plan.network;
  const ns = host.namespace!;
  const link = host.link!;
  const changed = !namespaces.has(ns);
  // The settings and the read of its interfaces in one process: each spawn costs a
  // no-op `up` about 10 ms of its own thread.
  const inside = await interfacesAfterSysctls(host, hostSysctls(host));
  if (!inside.has(hostInterface)) {
    // A half-made pair from a crashed run: remove its root end first.
    if (root.has(link)) await ip(['link', 'del', link]);
    // A new pair, its inner end made in the namespace under its name, in two processes.
    await ipBatch([
      `link add ${link} type veth peer name ${hostInterface} netns ${ns}`,
      `link set ${link} master ${bridge!} up`,
    ]);
    await ipBatch(
      [
        `addr replace ${host.address}/${prefixLength} dev ${hostInterface}`,
        `link set ${hostInterface} up`,
        'link set lo up',
      ],
      ns,
    );
    return true;
  }
  // Read once above: each repair below runs only when the state it makes is missing.
  const outside = changed ? undefined : root.get(link);
  if (outside?.master !== bridge || !isUp(outside)) await ip(['link', 'set', link, 'master', bridge!, 'up']);
  const eth = changed ? undefined : inside.get(hostInterface);
  if (!hasAddress(eth, host.address, prefixLength)) {
    await ip(['-n', ns, 'addr', 'replace', `${host.address}/${prefixLength}`, 'dev', hostInterface]);
  }
  if (!isUp(eth)) await ip(['-n', ns, 'link', 'set', hostInterface, 'up']);
  if (!isUp(inside.get('lo'))) await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  return changed;
}

/**
 * Creates (or repairs) bridge, namespaces, veths and addresses. Reads the state once per
 * namespace and changes only what is missing; hosts are set up side by side. Returns
 * true when anything changed.
 */
export async function ensureNetwork(plan: NetworkLayout): Promise<boolean> {
  const { bridge, bridgeAddress, prefixLength } = plan.network;
  if (!bridge || !bridgeAddress) return false;
  let changed = false;
  const [rootFirst, namespaces] = await Promise.all([interfaces(), listNamespaces()]);
  let root = rootFirst;
  if (!root.has(bridge)) {
    await checkSubnetFree(plan);
    await ip(['link', 'add', bridge, 'type', 'bridge']);
    changed = true;
  }
  // First the bridge's address: from here on the subnet is a connected route here.
  if (!hasAddress(root.get(bridge), bridgeAddress, prefixLength)) {
    await ip(['addr', 'replace', `${bridgeAddress}/${prefixLength}`, 'dev', bridge]);
  }
  if (!isUp(root.get(bridge))) await ip(['link', 'set', bridge, 'up']);
  if (changed) root = await interfaces();
  const existing = new Set(namespaces);
  // One at a time: the first `ip netns add` makes /run/netns a shared mount, which racing adds can stack.
  for (const host of namespaceHosts(plan)) {
    if (!existing.has(host.namespace!)) await ip(['netns', 'add', host.namespace!]);
  }
  const hosts = await Promise.all(namespaceHosts(plan).map((host) => ensureHostLink(plan, host, root, existing)));
  changed = hosts.includes(true) || changed;
  if (plan.client?.namespace && plan.dns.enabled) {
    const file = resolvConfPath(plan.client.namespace);
    const content = `# written by tandem: the client resolves through the stack's dnsmasq\nnameserver ${plan.client.address}\n`;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== content) fs.writeFileSync(file, content);
  }
  return changed;
}

/** Removes namespaces (their veth ends go with them), the bridge and the resolv.conf folder. */
export async function teardownNetwork(plan: NetworkLayout): Promise<boolean> {
  const { bridge } = plan.network;
  if (!bridge) return false;
  const [existing, root] = await Promise.all([listNamespaces(), interfaces()]);
  const hosts = namespaceHosts(plan);
  const namespaces = hosts.map((h) => h.namespace!).filter((ns) => existing.includes(ns));
  let changed = namespaces.length > 0;
  // In two processes: each spawn costs `destroy` some 10–40 ms of its own thread.
  if (changed) await ipBatch(namespaces.map((ns) => `netns del ${ns}`));
  // A namespace's veth pairs go with it (the root ends a moment later): each link that
  // was there is deleted if it still is.
  const links = hosts.map((h) => h.link!).filter((link) => root.has(link));
  if (links.length > 0)
    await ipBatch(
      links.map((link) => `link del ${link}`),
      undefined,
      true,
    ).catch(() => {});
  if (root.has(bridge)) {
    await ip(['link', 'del', bridge]);
    changed = true;
  }
  if (plan.client?.namespace) {
    fs.rmSync(path.dirname(resolvConfPath(plan.client.namespace)), { recursive: true, force: true });
  }
  return changed;
}

/** Takes a host's link down (host death) or up again. */
export async function setLink(host: PlanHost, up: boolean): Promise<void> {
  if (!host.link) throw new TandemError('TANDEM_USAGE', `${host.name} has no link: cutting links needs netns hosting`);
  await ip(['link', 'set', host.link, up ? 'up' : 'down']);
}

/** Which namespace host currently has `address` configured (the VIP holder). */
export async function holderOf(
  plan: Plan,
  address: string,
  candidates: readonly PlanHost[],
): Promise<string | undefined> {
  for (const host of candidates) {
    if (!host.namespace) continue;
    // `-br`: state and addresses on one line. A dead host's namespace may still carry the
    // VIP its killed keepalived left; with its link down it holds nothing anyone reaches.
    const out = await ip(['-n', host.namespace, '-4', '-br', 'addr', 'show', 'dev', plan.network.hostInterface], true);
    if (/\s(DOWN|LOWERLAYERDOWN)\s/.test(out)) continue;
    if (out.includes(` ${address}/`)) return host.name;
  }
  return undefined;
}

/** HTTP status of a GET made from inside the host (0 when nothing answered). */
export async function httpStatusFrom(
  host: PlanHost,
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 1000,
): Promise<number> {
  const argv = probeInNamespace(host, [
    'curl',
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '--max-time',
    String(timeoutMs / 1000),
    ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    url,
  ]);
  try {
    return Number((await run(argv, { timeoutMs: timeoutMs + 2000 })).stdout.trim()) || 0;
  } catch {
    return 0;
  }
}
