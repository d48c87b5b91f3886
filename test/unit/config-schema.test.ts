/**
 * The config schema is the one description of tandem.config.ts: it covers exactly the
 * fields of `StackConfig`, its defaults are the ones resolve() applies, validation
 * enforces its rules, and the committed reference (docs/CONFIG.md) is rendered from it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_PRIMARY } from '../../src/config/defaults.ts';
import { REFERENCE_FILE, renderConfigReference } from '../../src/config/reference.ts';
import { resolve } from '../../src/config/resolve.ts';
import { CONFIG_SCHEMA, type Field, type Schema } from '../../src/config/schema.ts';
import type { Hosting, StackConfig } from '../../src/config/types.ts';
import { validateConfig } from '../../src/config/validate.ts';

/** Every field required, all the way down: the compiler makes the sample below complete. */
type Full<T> = T extends readonly (infer U)[] ? Full<U>[] : T extends object ? { [K in keyof T]-?: Full<T[K]> } : T;

/** A config that sets every field of StackConfig (tsc fails when a field is missing or unknown). */
const EVERY_FIELD: Full<StackConfig> = {
  name: 'shop',
  domain: 'shop.test',
  aliases: ['shop'],
  // ssh, the hosting that takes every field: `lab` and `hosts[].ssh` belong to it.
  hosting: 'ssh',
  stateDir: '.state',
  network: { subnet: '10.78.0.0/24', vip: '10.78.0.10' },
  lab: { subnet: '10.78.0.0/24' },
  hosts: [
    {
      name: DEFAULT_PRIMARY,
      roles: ['lb', 'web', 'app', 'db'],
      address: '10.78.0.11',
      ssh: { address: '10.78.0.11', user: 'root', port: 22, identityFile: 'id_ed25519', knownHostsFile: 'known_hosts' },
    },
    {
      name: 'vault',
      roles: ['monitor'],
      address: '10.78.0.12',
      ssh: { address: '10.78.0.12', user: 'admin', port: 2222, identityFile: 'key', knownHostsFile: 'hosts' },
    },
  ],
  lb: {
    balance: 'leastconn',
    mode: 'active-passive',
    port: 8080,
    maxconn: 1000,
    httpsPort: 8443,
    preempt: true,
    advertIntervalMs: 200,
    exposeHostAddresses: true,
    rateLimit: { requests: 100, perSeconds: 5 },
  },
  tls: { enabled: true, cert: 'site.crt', key: 'site.key' },
  firewall: { sshFrom: ['10.78.0.1'] },
  web: { port: 81, workers: 2 },
  app: {
    port: 3001,
    adminPort: 3101,
    codeDir: 'site',
    start: ['node', 'server.js'],
    bodyLimit: 1024,
    build: ['npm', 'run', 'build'],
    keepReleases: 3,
    slotOffset: 200,
    coalesceReads: false,
  },
  database: {
    primary: DEFAULT_PRIMARY,
    port: 3307,
    name: 'shop',
    semiSync: false,
    semiSyncTimeoutMs: 500,
    bufferPoolMb: 64,
    // The sample has one db host: failover (which needs two) must be off.
    failover: false,
    leaseTtlS: 2,
    reseedRetryS: 30,
  },
  backup: { host: 'vault', fullEveryHours: 12, incrementalEveryMinutes: 15, keepFull: 3 },
  etcd: { hosts: [DEFAULT_PRIMARY], clientPort: 2479, peerPort: 2480 },
};

/** Field paths of a value, `lb.port`, `hosts[].name`: objects and lists of objects are walked. */
function pathsOfValue(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value))
    return value.length > 0 && typeof value[0] === 'object' ? pathsOfValue(value[0], `${prefix}[]`) : [];
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return [p, ...pathsOfValue(v, p)];
  });
}

function pathsOfSchema(schema: Schema, prefix = ''): string[] {
  return Object.entries(schema).flatMap(([k, field]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    const inner = field.type === 'array' ? `${p}[]` : p;
    return [p, ...(field.fields ? pathsOfSchema(field.fields, inner) : [])];
  });
}

/** Every field of the schema with its slash path (as validation names it). */
function fieldsOf(schema: Schema, prefix = ''): { path: string; field: Field }[] {
  return Object.entries(schema).flatMap(([k, field]) => {
    const p = prefix ? `${prefix}/${k}` : k;
    return [{ path: p, field }, ...(field.type === 'object' && field.fields ? fieldsOf(field.fields, p) : [])];
  });
}

/** `{ lb: { port: v } }` from `lb/port`. */
function configWith(fieldPath: string, value: unknown): Record<string, unknown> {
  return fieldPath
    .split('/')
    .reverse()
    .reduce<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
}

const NONE = Symbol('no default');

/** The field's documented default on this hosting, or NONE. */
function defaultOn(field: Field, hosting: Hosting): unknown {
  if ('default' in field) return field.default;
  const byHosting = field.defaultByHosting as Partial<Record<Hosting, unknown>> | undefined;
  return byHosting && hosting in byHosting ? byHosting[hosting] : NONE;
}

/** A valid value other than `value`: the other boolean, a larger number, another allowed string, or the sample's. */
function otherThan(field: Field, value: unknown, sample: unknown): unknown {
  if (typeof value === 'boolean') return !value;
  if (typeof value === 'number')
    return typeof field.range === 'object' && value + 10 > field.range.max ? value + 1 : value + 10;
  if (field.oneOf && field.type === 'string') return field.oneOf.find((v) => v !== value);
  return sample;
}

/** EVERY_FIELD's value at a slash path; its hosts without `ssh`, which only ssh hosting takes. */
function sampleAt(fieldPath: string): unknown {
  if (fieldPath === 'hosts') return EVERY_FIELD.hosts.map(({ ssh: _ssh, ...host }) => host);
  return fieldPath.split('/').reduce<unknown>((v, key) => (v as Record<string, unknown>)[key], EVERY_FIELD);
}

/** The plan of the default config with one field set (undefined: none). */
/** etcd and the lease exist only with failover (opt-in): their plans are compared with it on. */
const needsFailover = (fieldPath: string | undefined) =>
  fieldPath !== undefined &&
  (fieldPath.startsWith('etcd/') || fieldPath === 'database/leaseTtlS' || fieldPath === 'database/reseedRetryS');

function planWith(
  fieldPath: string | undefined,
  value: unknown,
  hosting: Hosting,
  failover = needsFailover(fieldPath),
) {
  // With explicit hosts, the primary must be named: name the default one in every config.
  const config = { database: { primary: DEFAULT_PRIMARY, ...(failover ? { failover: true } : {}) } } as StackConfig;
  if (fieldPath) {
    const set = configWith(fieldPath, value) as StackConfig;
    Object.assign(config, set, set.database ? { database: { ...config.database, ...set.database } } : {});
  }
  return resolve(config, {
    projectDir: '/srv/site',
    bundledAppDir: '/opt/app',
    defaultHosting: hosting,
  });
}

describe('config schema', () => {
  it('covers exactly the field paths of StackConfig', () => {
    const typed = pathsOfValue(EVERY_FIELD).sort();
    assert.ok(typed.length > 30, 'the sample sets every field');
    assert.deepEqual(pathsOfSchema(CONFIG_SCHEMA).sort(), typed);
  });

  it('the sample that sets every field is itself valid, so each field is accepted', () => {
    assert.deepEqual(validateConfig(EVERY_FIELD), []);
  });

  it('states the defaults resolve() applies: setting a field to its documented default changes nothing', () => {
    const checked: string[] = [];
    for (const { path: fieldPath, field } of fieldsOf(CONFIG_SCHEMA)) {
      for (const hosting of ['netns', 'loopback'] as const) {
        const value = defaultOn(field, hosting);
        if (value === NONE) continue;
        assert.deepEqual(
          planWith(fieldPath, value, hosting),
          planWith(undefined, undefined, hosting, needsFailover(fieldPath)),
          `${fieldPath} on ${hosting}`,
        );
        checked.push(`${fieldPath}@${hosting}`);
      }
    }
    assert.ok(checked.length >= 40, `defaults checked: ${checked.join(' ')}`);
  });

  it('documents no default for a field the plan ignores: another value changes the plan', () => {
    const checked: string[] = [];
    for (const { path: fieldPath, field } of fieldsOf(CONFIG_SCHEMA)) {
      const value = defaultOn(field, 'netns');
      if (value === NONE || field.type === 'object') continue;
      const other = otherThan(field, value, sampleAt(fieldPath));
      // The sample's value is the default (database/primary names the one db host of the default hosts).
      if (JSON.stringify(other) === JSON.stringify(value)) continue;
      assert.notDeepEqual(planWith(fieldPath, other, 'netns'), planWith(fieldPath, value, 'netns'), fieldPath);
      checked.push(fieldPath);
    }
    assert.ok(checked.length >= 25, `fields checked: ${checked.join(' ')}`);
  });

  it('validation enforces every allowed-values list and range the schema states', () => {
    const ruled = fieldsOf(CONFIG_SCHEMA).filter(({ field }) => field.oneOf || field.range);
    assert.ok(ruled.length >= 10);
    for (const { path: fieldPath, field } of ruled) {
      const bad = field.oneOf ? 'no-such-value' : 0;
      const issues = validateConfig(configWith(fieldPath, bad), 'netns');
      assert.ok(
        issues.some((i) => i.path === fieldPath && i.message.startsWith('should be')),
        `${fieldPath}: ${JSON.stringify(issues)}`,
      );
    }
  });
});

describe('configuration reference', () => {
  it(`${REFERENCE_FILE} is the rendering of the schema (run \`npm run docs\` when this fails)`, () => {
    const committed = fs.readFileSync(path.join(import.meta.dirname, '../..', REFERENCE_FILE), 'utf8');
    assert.equal(committed, renderConfigReference(), `${REFERENCE_FILE} is stale: run \`npm run docs\``);
  });

  it('lists every field of the schema with its type and default', () => {
    const reference = renderConfigReference();
    const paths = pathsOfSchema(CONFIG_SCHEMA);
    assert.ok(paths.length > 30);
    for (const p of paths) assert.match(reference, new RegExp(`^\\| \`${p.replace(/[.[\]]/g, '\\$&')}\` \\|`, 'm'), p);
    assert.match(reference, /^\| `lb\.port` \| port \(1–65535\) \| `80` \|/m);
    assert.match(reference, /^\| `tls\.enabled` \| boolean \| `true` on netns, `false` on loopback \|/m);
  });
});
