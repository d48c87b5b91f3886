/**
 * Checks a user's StackConfig and collects *every* problem, each with the path of
 * the bad value (`hosts/1/address: ...`), before anything starts.
 */
import { DEFAULT_PRIMARY, DEFAULTS, defaultHostsFor } from './defaults.ts';
import { CONFIG_SCHEMA, type Field, type FieldType, HOST_FIELDS, ROLES, SSH_FIELDS, type Schema } from './schema.ts';
import type { HostConfig, Hosting, StackConfig } from './types.ts';

export interface ConfigIssue {
  /** Slash-separated path to the bad value, e.g. `hosts/1/address`. */
  readonly path: string;
  readonly message: string;
}

/** Field types, for the unknown-key and wrong-type checks of one object. */
type Shape = Readonly<Record<string, { readonly type: FieldType }>>;

function typeOk(value: unknown, type: FieldType): boolean {
  switch (type) {
    case 'string[]':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return typeof value === type;
  }
}

function checkShape(obj: Record<string, unknown>, shape: Shape, prefix: string, issues: ConfigIssue[]): void {
  for (const [key, value] of Object.entries(obj)) {
    const path = prefix ? `${prefix}/${key}` : key;
    const type = shape[key]?.type;
    if (!type) {
      issues.push({ path, message: `unknown key (expected one of: ${Object.keys(shape).join(', ')})` });
    } else if (value !== undefined && !typeOk(value, type)) {
      issues.push({ path, message: `should be ${type === 'string[]' ? 'a list of strings' : `a ${type}`}` });
    }
  }
}

export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return (((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) >>> 0;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** `127.60.0.0/24` → { base, size } or undefined when malformed. */
export function parseSubnet(text: string): { base: number; bits: number } | undefined {
  const [addr, bitsText] = text.split('/');
  const base = parseIpv4(addr ?? '');
  const bits = Number(bitsText);
  if (base === undefined || !Number.isInteger(bits) || bits < 8 || bits > 28) return undefined;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (base & mask) >>> 0, bits };
}

/** The schema's own rules for one value of the right type: allowed values, range, `check`. */
function checkField(value: unknown, field: Field, path: string, issues: ConfigIssue[]): void {
  if (value === undefined || !typeOk(value, field.type)) return;
  if (field.oneOf && typeof value === 'string' && !field.oneOf.includes(value)) {
    issues.push({ path, message: `should be one of ${field.oneOf.join(', ')}, got '${value}'` });
  }
  if (field.range === 'port' && typeof value === 'number' && (!Number.isInteger(value) || value < 1 || value > 65535)) {
    issues.push({ path, message: `should be a port number 1-65535, got ${value}` });
  }
  if (typeof field.range === 'object' && typeof value === 'number') {
    const { max } = field.range;
    if (!Number.isInteger(value) || value < 1 || value > max)
      issues.push({ path, message: `should be a whole number from 1 to ${max}, got ${value}` });
  }
  const problem = field.check?.(value as never);
  if (problem) issues.push({ path, message: problem });
}

/**
 * The app's private listener shares its host's address with the public ports of the
 * roles a host may combine: it must not take one of them. Nor may the other slot's two
 * ports (`tandem deploy` starts the new release there beside the old).
 */
function checkAdminPort(c: StackConfig, issues: ConfigIssue[]): void {
  const admin = c.app?.adminPort ?? DEFAULTS.app.adminPort;
  const app = c.app?.port ?? DEFAULTS.app.port;
  const taken: [string, unknown][] = [
    ['app/port', app],
    ['web/port', c.web?.port ?? DEFAULTS.web.port],
    ['database/port', c.database?.port ?? DEFAULTS.database.port],
    ['lb/port', c.lb?.port ?? DEFAULTS.lb.port],
    ['lb/httpsPort', c.lb?.httpsPort ?? DEFAULTS.lb.httpsPort],
  ];
  const clash = taken.find(([, port]) => port === admin);
  if (clash) issues.push({ path: 'app/adminPort', message: `should differ from ${clash[0]} (both are ${admin})` });
  const offset = c.app?.slotOffset ?? DEFAULTS.app.slotOffset;
  if (typeof offset !== 'number' || typeof app !== 'number' || typeof admin !== 'number') return;
  const others: [string, unknown][] = [...taken, ['app/adminPort', admin]];
  for (const [name, port] of [
    ['app/port', app + offset],
    ['app/adminPort', admin + offset],
  ] as const) {
    const hit = others.find(([, p]) => p === port);
    if (port > 65535)
      issues.push({ path: 'app/slotOffset', message: `puts ${name}'s other slot past 65535 (${port})` });
    else if (hit)
      issues.push({
        path: 'app/slotOffset',
        message: `puts ${name}'s other slot on ${hit[0]} (both are ${port}); choose another offset`,
      });
  }
}

/** Unknown keys and wrong types, then each field's own rules, through nested objects. */
function checkObject(obj: Record<string, unknown>, schema: Schema, prefix: string, issues: ConfigIssue[]): void {
  checkShape(obj, schema, prefix, issues);
  for (const [key, field] of Object.entries(schema)) {
    const value = obj[key];
    const path = prefix ? `${prefix}/${key}` : key;
    checkField(value, field, path, issues);
    if (field.type === 'object' && field.fields && typeOk(value, 'object'))
      checkObject(value as Record<string, unknown>, field.fields, path, issues);
  }
}

export function isPrivateIpv4(n: number): boolean {
  return n >>> 24 === 10 || n >>> 20 === (172 << 4) + 1 || n >>> 16 === (192 << 8) + 168;
}

/**
 * Validates the raw (possibly untyped) user config; returns every issue found.
 * `defaultHosting` is what an unset `hosting` means on this machine.
 */
export function validateConfig(raw: unknown, defaultHosting: Hosting = 'loopback'): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return [{ path: '(root)', message: 'the config should be an object (defineStack({...}))' }];
  }
  const config = raw as Record<string, unknown>;
  const c = raw as StackConfig;
  const hosting: Hosting =
    c.hosting === 'netns' || c.hosting === 'loopback' || c.hosting === 'ssh' ? c.hosting : defaultHosting;
  checkObject(config, CONFIG_SCHEMA, '', issues);
  const rateLimit = c.lb?.rateLimit as Record<string, unknown> | undefined;
  if (typeOk(rateLimit, 'object') && rateLimit!.requests === undefined) {
    issues.push({ path: 'lb/rateLimit/requests', message: 'required' });
  }
  if ((c.tls?.cert === undefined) !== (c.tls?.key === undefined)) {
    issues.push({
      path: c.tls?.cert === undefined ? 'tls/cert' : 'tls/key',
      message: 'cert and key go together: give both or neither',
    });
  }
  if (hosting === 'loopback') {
    for (const path of netnsOnlyPaths(CONFIG_SCHEMA, config)) {
      issues.push({
        path,
        message: 'needs netns hosting (loopback hosts share one network: no VIP, no per-host firewall)',
      });
    }
  }
  if (c.firewall?.sshFrom) {
    c.firewall.sshFrom.forEach((cidr, i) => {
      const [addr, bits] = cidr.split('/');
      if (parseIpv4(addr ?? '') === undefined || (bits !== undefined && !(Number(bits) >= 0 && Number(bits) <= 32))) {
        issues.push({ path: `firewall/sshFrom/${i}`, message: `'${cidr}' is not an IPv4 address or subnet` });
      }
    });
  }
  checkAdminPort(c, issues);
  let subnet: { base: number; bits: number } | undefined;
  if (typeof c.network?.subnet === 'string') {
    subnet = parseSubnet(c.network.subnet);
    if (!subnet) {
      issues.push({ path: 'network/subnet', message: `'${c.network.subnet}' is not an IPv4 subnet like 10.77.0.0/24` });
    } else if (hosting === 'loopback' && subnet.base >>> 24 !== 127) {
      issues.push({ path: 'network/subnet', message: 'loopback hosting needs a subnet inside 127.0.0.0/8' });
    } else if (hosting === 'netns' && !isPrivateIpv4(subnet.base)) {
      issues.push({
        path: 'network/subnet',
        message: 'netns hosting needs a private subnet (10/8, 172.16/12 or 192.168/16)',
      });
    }
  }
  if (typeof c.network?.vip === 'string') {
    const vip = parseIpv4(c.network.vip);
    const net = subnet ?? parseSubnet(DEFAULTS.subnet[hosting])!;
    const mask = (0xffffffff << (32 - net.bits)) >>> 0;
    if (vip === undefined) issues.push({ path: 'network/vip', message: `'${c.network.vip}' is not an IPv4 address` });
    else if ((vip & mask) >>> 0 !== net.base)
      issues.push({ path: 'network/vip', message: `${c.network.vip} is not inside the subnet` });
  }
  const lab = checkLab(c, hosting, issues);
  if (c.hosts === undefined || Array.isArray(c.hosts)) checkHosts(c, issues, hosting, lab);
  return issues;
}

/** `lab` belongs to ssh hosting and needs a private subnet; returns that subnet when valid. */
function checkLab(c: StackConfig, hosting: Hosting, issues: ConfigIssue[]): { base: number; bits: number } | undefined {
  if (!typeOk(c.lab, 'object')) return undefined;
  if (hosting !== 'ssh') {
    issues.push({ path: 'lab', message: "needs ssh hosting (the lab makes SSH hosts): set hosting: 'ssh'" });
    return undefined;
  }
  if (c.lab!.subnet === undefined) {
    issues.push({ path: 'lab/subnet', message: 'is required: a private subnet for the lab, like 10.120.0.0/24' });
    return undefined;
  }
  if (typeof c.lab!.subnet !== 'string') return undefined;
  const subnet = parseSubnet(c.lab!.subnet);
  if (!subnet)
    issues.push({ path: 'lab/subnet', message: `'${c.lab!.subnet}' is not an IPv4 subnet like 10.120.0.0/24` });
  else if (!isPrivateIpv4(subnet.base))
    issues.push({ path: 'lab/subnet', message: 'the lab needs a private subnet (10/8, 172.16/12 or 192.168/16)' });
  else return subnet;
  return undefined;
}

/**
 * A host's `ssh`: required on ssh hosting and refused elsewhere; its fields by the schema;
 * in a lab, an address inside the lab's subnet that is not its bridge's.
 */
function checkSsh(
  h: HostConfig,
  at: string,
  hosting: Hosting,
  lab: { base: number; bits: number } | undefined,
  issues: ConfigIssue[],
): void {
  if (hosting !== 'ssh') {
    if (h.ssh !== undefined) issues.push({ path: `${at}/ssh`, message: "needs ssh hosting: set hosting: 'ssh'" });
    return;
  }
  if (h.ssh === undefined) {
    issues.push({
      path: `${at}/ssh`,
      message:
        'is required on ssh hosting: how to reach the host, { address, user?, port?, identityFile?, knownHostsFile? }',
    });
    return;
  }
  if (!typeOk(h.ssh, 'object')) return;
  checkObject(h.ssh as unknown as Record<string, unknown>, SSH_FIELDS, `${at}/ssh`, issues);
  const address = h.ssh.address;
  if (address === undefined) issues.push({ path: `${at}/ssh/address`, message: 'is required' });
  if (!lab || typeof address !== 'string') return;
  const n = parseIpv4(address);
  const mask = (0xffffffff << (32 - lab.bits)) >>> 0;
  if (n === undefined || (n & mask) >>> 0 !== lab.base)
    issues.push({
      path: `${at}/ssh/address`,
      message: `a lab host needs an IPv4 address inside lab/subnet, got '${address}'`,
    });
  else if (n === lab.base + DEFAULTS.bridgeOffset || n === lab.base || n === (lab.base | ~mask) >>> 0)
    issues.push({ path: `${at}/ssh/address`, message: `${address} is the lab's network, bridge or broadcast address` });
  else if (h.address !== undefined && h.address !== address)
    issues.push({
      path: `${at}/address`,
      message: `a lab host has one address: leave it unset or equal to ssh/address (${address})`,
    });
}

function checkHosts(
  c: StackConfig,
  issues: ConfigIssue[],
  hosting: Hosting,
  lab: { base: number; bits: number } | undefined,
): void {
  const hosts = c.hosts ?? defaultHostsFor(hosting);
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  hosts.forEach((h, i) => {
    const at = `hosts/${i}`;
    if (!typeOk(h, 'object')) {
      issues.push({ path: at, message: 'should be an object { name, roles, address?, ssh? }' });
      return;
    }
    checkShape(h as unknown as Record<string, unknown>, HOST_FIELDS, at, issues);
    checkSsh(h, at, hosting, lab, issues);
    if (typeof h.name !== 'string') issues.push({ path: `${at}/name`, message: 'is required' });
    else if (!/^[a-z][a-z0-9-]{0,30}$/.test(h.name)) {
      issues.push({ path: `${at}/name`, message: `'${h.name}' should be lower-case letters, digits and dashes` });
    } else if (names.has(h.name)) {
      issues.push({ path: `${at}/name`, message: `'${h.name}' is already the name of hosts/${names.get(h.name)}` });
    } else names.set(h.name, i);
    if (!Array.isArray(h.roles) || h.roles.length === 0) {
      if (h.roles === undefined || Array.isArray(h.roles))
        issues.push({ path: `${at}/roles`, message: `should list at least one of ${ROLES.join(', ')}` });
    } else {
      h.roles.forEach((r, j) => {
        if (!(ROLES as readonly string[]).includes(r))
          issues.push({
            path: `${at}/roles/${j}`,
            message: `unknown role '${r}' (expected one of ${ROLES.join(', ')})`,
          });
      });
    }
    // ssh: a host without an address has its ssh address (when it is one): no two may share it.
    const sshAddress =
      hosting === 'ssh' && h.address === undefined && typeof h.ssh?.address === 'string' && parseIpv4(h.ssh.address)
        ? h.ssh.address
        : undefined;
    const address = h.address ?? sshAddress;
    const addressPath = sshAddress ? `${at}/ssh/address` : `${at}/address`;
    if (typeof address === 'string') {
      const n = parseIpv4(address);
      if (n === undefined) issues.push({ path: `${at}/address`, message: `'${h.address}' is not an IPv4 address` });
      else if (hosting === 'loopback' && n >>> 24 !== 127)
        issues.push({ path: `${at}/address`, message: 'loopback hosting needs an address inside 127.0.0.0/8' });
      else if (hosting === 'netns' && !isPrivateIpv4(n))
        issues.push({
          path: `${at}/address`,
          message: 'netns hosting needs a private address (10/8, 172.16/12 or 192.168/16)',
        });
      else if (h.address === '127.0.0.1')
        issues.push({
          path: `${at}/address`,
          message: '127.0.0.1 is shared by everything on this machine; pick another 127.x.y.z',
        });
      else if (addresses.has(address)) {
        issues.push({
          path: addressPath,
          message: `${address} is already the address of hosts/${addresses.get(address)}`,
        });
      } else addresses.set(address, i);
    }
  });
  const withRole = (role: string) => hosts.filter((h) => Array.isArray(h?.roles) && h.roles.includes(role as never));
  for (const role of ['lb', 'web', 'app']) {
    if (withRole(role).length === 0) issues.push({ path: 'hosts', message: `no host has the '${role}' role` });
  }
  const dbHosts = withRole('db');
  const primary = c.database?.primary ?? (c.hosts === undefined ? DEFAULT_PRIMARY : undefined);
  if (dbHosts.length === 0) {
    issues.push({ path: 'hosts', message: "no host has the 'db' role" });
  } else if (primary === undefined) {
    issues.push({
      path: 'database/primary',
      message: `is required: name the db host that starts as primary (one of ${dbHosts.map((h) => h.name).join(', ')})`,
    });
  } else if (typeof primary === 'string' && !dbHosts.some((h) => h.name === primary)) {
    issues.push({
      path: 'database/primary',
      message: `'${primary}' is not a host with the 'db' role (db hosts: ${dbHosts.map((h) => h.name).join(', ')})`,
    });
  }
  if (hosting === 'loopback' && withRole('lb').length > 1) {
    issues.push({ path: 'hosts', message: 'more than one load balancer needs a floating IP: use netns hosting' });
  }
  if (withRole('lb').length > 2) {
    issues.push({ path: 'hosts', message: 'at most two load balancers (one VRRP pair)' });
  }
  const [monitor, ...extraMonitors] = withRole('monitor');
  for (const h of extraMonitors) {
    issues.push({
      path: `hosts/${hosts.indexOf(h)}/roles`,
      message: `at most one host has the 'monitor' role (hosts/${hosts.indexOf(monitor!)} already has it)`,
    });
  }
  checkFailover(c, hosts, issues);
  checkBackupHost(c, hosts, issues);
}

/** The backup host is a known host and never a database: losing a server must not lose its backups. */
function checkBackupHost(c: StackConfig, hosts: readonly HostConfig[], issues: ConfigIssue[]): void {
  const name = c.backup?.host;
  if (typeof name !== 'string') return;
  const host = hosts.find((h) => h?.name === name);
  if (!host) issues.push({ path: 'backup/host', message: `'${name}' is not the name of a host in \`hosts\`` });
  else if (Array.isArray(host.roles) && host.roles.includes('db'))
    issues.push({
      path: 'backup/host',
      message: `'${name}' has the 'db' role: backups must live on a host that is not a database`,
    });
}

/** Failover needs a replica to promote; etcd's members are an odd number of distinct, known hosts. */
function checkFailover(c: StackConfig, hosts: readonly HostConfig[], issues: ConfigIssue[]): void {
  const dbCount = hosts.filter((h) => Array.isArray(h?.roles) && h.roles.includes('db')).length;
  if (c.database?.failover === true && dbCount < DEFAULTS.failoverMinDbHosts) {
    issues.push({
      path: 'database/failover',
      message: `needs at least ${DEFAULTS.failoverMinDbHosts} hosts with the 'db' role (there are ${dbCount}): a replica to promote`,
    });
  }
  const members = c.etcd?.hosts;
  if (Array.isArray(members) && members.every((m) => typeof m === 'string')) {
    const seen = new Map<string, number>();
    members.forEach((m, i) => {
      if (!hosts.some((h) => h?.name === m))
        issues.push({ path: `etcd/hosts/${i}`, message: `'${m}' is not the name of a host in \`hosts\`` });
      else if (seen.has(m))
        issues.push({ path: `etcd/hosts/${i}`, message: `'${m}' is already etcd/hosts/${seen.get(m)}` });
      else seen.set(m, i);
    });
    if (members.length % 2 === 0)
      issues.push({
        path: 'etcd/hosts',
        message: `should name an odd number of hosts (got ${members.length}): a majority must survive the loss of one`,
      });
  }
  const client = c.etcd?.clientPort ?? DEFAULTS.etcd.clientPort;
  if (client === (c.etcd?.peerPort ?? DEFAULTS.etcd.peerPort))
    issues.push({ path: 'etcd/peerPort', message: `should differ from etcd/clientPort (both are ${client})` });
}

/** The paths of the netns-only fields that `config` sets. */
function netnsOnlyPaths(schema: Schema, config: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(schema).flatMap(([key, field]) => {
    const value = config[key];
    const path = prefix ? `${prefix}/${key}` : key;
    if (value === undefined) return [];
    if (field.netnsOnly) return [path];
    return field.type === 'object' && field.fields && typeOk(value, 'object')
      ? netnsOnlyPaths(field.fields, value as Record<string, unknown>, path)
      : [];
  });
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
}
