/**
 * Checks a user's StackConfig and collects *every* problem, each with the path of
 * the bad value (`hosts/1/address: ...`), before anything starts.
 */
import { DEFAULT_PRIMARY, DEFAULTS, defaultHostsFor } from './defaults.ts';
import type { Hosting, StackConfig } from './types.ts';

export interface ConfigIssue {
  /** Slash-separated path to the bad value, e.g. `hosts/1/address`. */
  readonly path: string;
  readonly message: string;
}

type Shape = Record<string, 'string' | 'number' | 'boolean' | 'string[]' | 'object' | 'array'>;

const TOP: Shape = {
  name: 'string',
  domain: 'string',
  aliases: 'string[]',
  hosting: 'string',
  stateDir: 'string',
  network: 'object',
  hosts: 'array',
  lb: 'object',
  web: 'object',
  app: 'object',
  database: 'object',
  tls: 'object',
  firewall: 'object',
};
const NESTED: Record<string, Shape> = {
  network: { subnet: 'string', vip: 'string' },
  lb: {
    balance: 'string',
    mode: 'string',
    port: 'number',
    maxconn: 'number',
    httpsPort: 'number',
    preempt: 'boolean',
    advertIntervalMs: 'number',
    exposeHostAddresses: 'boolean',
  },
  tls: { enabled: 'boolean', cert: 'string', key: 'string' },
  firewall: { sshFrom: 'string[]' },
  web: { port: 'number', workers: 'number' },
  app: {
    port: 'number',
    adminPort: 'number',
    codeDir: 'string',
    start: 'string[]',
    bodyLimit: 'number',
    coalesceReads: 'boolean',
  },
  database: {
    primary: 'string',
    port: 'number',
    name: 'string',
    semiSync: 'boolean',
    semiSyncTimeoutMs: 'number',
    bufferPoolMb: 'number',
  },
};
const HOST: Shape = { name: 'string', roles: 'string[]', address: 'string' };
const ROLES = ['lb', 'web', 'app', 'db'];

function typeOk(value: unknown, type: Shape[string]): boolean {
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
    const type = shape[key];
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

function checkPort(value: unknown, path: string, issues: ConfigIssue[]): void {
  if (typeof value === 'number' && (!Number.isInteger(value) || value < 1 || value > 65535)) {
    issues.push({ path, message: `should be a port number 1-65535, got ${value}` });
  }
}

/**
 * The app's private listener shares its host's address with the public ports of the
 * roles a host may combine: it must not take one of them.
 */
function checkAdminPort(c: StackConfig, issues: ConfigIssue[]): void {
  const admin = c.app?.adminPort ?? DEFAULTS.app.adminPort;
  const taken: [string, unknown][] = [
    ['app/port', c.app?.port ?? DEFAULTS.app.port],
    ['web/port', c.web?.port ?? DEFAULTS.web.port],
    ['database/port', c.database?.port ?? DEFAULTS.database.port],
    ['lb/port', c.lb?.port ?? DEFAULTS.lb.port],
    ['lb/httpsPort', c.lb?.httpsPort ?? DEFAULTS.lb.httpsPort],
  ];
  const clash = taken.find(([, port]) => port === admin);
  if (clash) issues.push({ path: 'app/adminPort', message: `should differ from ${clash[0]} (both are ${admin})` });
}

function checkPositive(value: unknown, path: string, issues: ConfigIssue[], max = Infinity): void {
  if (typeof value === 'number' && (!Number.isInteger(value) || value < 1 || value > max)) {
    issues.push({ path, message: `should be a whole number from 1 to ${max}, got ${value}` });
  }
}

function checkOneOf(value: unknown, allowed: string[], path: string, issues: ConfigIssue[]): void {
  if (typeof value === 'string' && !allowed.includes(value)) {
    issues.push({ path, message: `should be one of ${allowed.join(', ')}, got '${value}'` });
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
  checkShape(config, TOP, '', issues);
  for (const [key, shape] of Object.entries(NESTED)) {
    const value = config[key];
    if (typeOk(value, 'object')) checkShape(value as Record<string, unknown>, shape, key, issues);
  }
  const c = raw as StackConfig;
  if (typeof c.name === 'string' && !/^[a-z][a-z0-9-]{0,30}$/.test(c.name)) {
    issues.push({ path: 'name', message: 'should be lower-case letters, digits and dashes, starting with a letter' });
  }
  if (typeof c.domain === 'string' && !/^([a-z0-9-]+\.)+[a-z]{2,}$/.test(c.domain)) {
    issues.push({ path: 'domain', message: `'${c.domain}' is not a domain name` });
  }
  checkOneOf(c.hosting, ['loopback', 'netns'], 'hosting', issues);
  const hosting: Hosting = c.hosting === 'netns' || c.hosting === 'loopback' ? c.hosting : defaultHosting;
  checkOneOf(c.lb?.balance, ['roundrobin', 'leastconn', 'source'], 'lb/balance', issues);
  checkOneOf(c.lb?.mode, ['active-active', 'active-passive'], 'lb/mode', issues);
  checkPort(c.lb?.port, 'lb/port', issues);
  // HAProxy needs about two files per connection; the hard open-files limit here is 20000.
  checkPositive(c.lb?.maxconn, 'lb/maxconn', issues, 9000);
  checkPort(c.lb?.httpsPort, 'lb/httpsPort', issues);
  if (
    typeof c.lb?.advertIntervalMs === 'number' &&
    (c.lb.advertIntervalMs < 10 || c.lb.advertIntervalMs > 40950 || c.lb.advertIntervalMs % 10 !== 0)
  ) {
    issues.push({
      path: 'lb/advertIntervalMs',
      message: `should be a multiple of 10 from 10 to 40950 (VRRPv3 centiseconds), got ${c.lb.advertIntervalMs}`,
    });
  }
  if ((c.tls?.cert === undefined) !== (c.tls?.key === undefined)) {
    issues.push({
      path: c.tls?.cert === undefined ? 'tls/cert' : 'tls/key',
      message: 'cert and key go together: give both or neither',
    });
  }
  if (hosting === 'loopback') {
    for (const [value, path] of [
      [c.network?.vip, 'network/vip'],
      [c.firewall, 'firewall'],
    ] as const) {
      if (value !== undefined)
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
  checkPort(c.web?.port, 'web/port', issues);
  checkPositive(c.web?.workers, 'web/workers', issues, 64);
  checkPort(c.app?.port, 'app/port', issues);
  checkPort(c.app?.adminPort, 'app/adminPort', issues);
  checkAdminPort(c, issues);
  checkPositive(c.app?.bodyLimit, 'app/bodyLimit', issues, 64 * 1024 * 1024);
  if (Array.isArray(c.app?.start) && c.app.start.length === 0) {
    issues.push({ path: 'app/start', message: 'should name a command to run' });
  }
  checkPort(c.database?.port, 'database/port', issues);
  checkPositive(c.database?.semiSyncTimeoutMs, 'database/semiSyncTimeoutMs', issues);
  checkPositive(c.database?.bufferPoolMb, 'database/bufferPoolMb', issues, 65536);
  if (typeof c.database?.name === 'string' && !/^[a-z_][a-z0-9_]{0,63}$/.test(c.database.name)) {
    issues.push({ path: 'database/name', message: 'should be lower-case letters, digits and underscores' });
  }
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
    const net = subnet ?? parseSubnet(hosting === 'netns' ? '10.77.0.0/24' : '127.60.0.0/24')!;
    const mask = (0xffffffff << (32 - net.bits)) >>> 0;
    if (vip === undefined) issues.push({ path: 'network/vip', message: `'${c.network.vip}' is not an IPv4 address` });
    else if ((vip & mask) >>> 0 !== net.base)
      issues.push({ path: 'network/vip', message: `${c.network.vip} is not inside the subnet` });
  }
  if (c.hosts === undefined || Array.isArray(c.hosts)) checkHosts(c, issues, hosting);
  return issues;
}

function checkHosts(c: StackConfig, issues: ConfigIssue[], hosting: Hosting): void {
  const hosts = c.hosts ?? defaultHostsFor(hosting);
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  hosts.forEach((h, i) => {
    const at = `hosts/${i}`;
    if (!typeOk(h, 'object')) {
      issues.push({ path: at, message: 'should be an object { name, roles, address? }' });
      return;
    }
    checkShape(h as unknown as Record<string, unknown>, HOST, at, issues);
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
        if (!ROLES.includes(r))
          issues.push({
            path: `${at}/roles/${j}`,
            message: `unknown role '${r}' (expected one of ${ROLES.join(', ')})`,
          });
      });
    }
    if (typeof h.address === 'string') {
      const n = parseIpv4(h.address);
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
      else if (addresses.has(h.address)) {
        issues.push({
          path: `${at}/address`,
          message: `${h.address} is already the address of hosts/${addresses.get(h.address)}`,
        });
      } else addresses.set(h.address, i);
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
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
}
