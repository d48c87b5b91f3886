/**
 * Renders the config schema (schema.ts) as the Markdown reference, docs/CONFIG.md.
 * Pure; scripts/docs.ts writes it, and a unit test fails when the committed file is stale.
 */
import { CONFIG_SCHEMA, type Field, type Schema } from './schema.ts';

export const REFERENCE_FILE = 'docs/CONFIG.md';

/** A value as it would be written in tandem.config.ts. */
function literal(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (typeof value === 'object' && value !== null)
    return `{ ${Object.entries(value)
      .map(([k, v]) => `${k}: ${literal(v)}`)
      .join(', ')} }`;
  return String(value);
}

const code = (text: string) => `\`${text}\``;

function typeOf(field: Field, path: string): string {
  const values = field.oneOf?.map((v) => code(literal(v))).join(' \\| ');
  switch (field.type) {
    case 'string':
      return values ?? 'string';
    case 'string[]':
      return values ? `list of ${values}` : 'list of strings';
    case 'number':
      if (field.range === 'port') return 'port (1–65535)';
      if (field.range) return field.range.max === Infinity ? 'whole number ≥ 1' : `whole number 1–${field.range.max}`;
      return 'number';
    case 'object':
      return `object, see [${code(path)}](#${path.replace(/\W/g, '').toLowerCase()})`;
    case 'array':
      return `list of objects, see [${code(`${path}[]`)}](#${path.replace(/\W/g, '').toLowerCase()})`;
    default:
      return field.type;
  }
}

function defaultOf(field: Field): string {
  if (field.defaultText) return field.defaultText;
  if ('default' in field) return code(literal(field.default));
  const byHosting = field.defaultByHosting;
  if (!byHosting) return '—';
  return (['netns', 'loopback'] as const)
    .filter((h) => h in byHosting)
    .map((h) => `${code(literal(byHosting[h]))} on ${h}`)
    .join(', ');
}

function table(schema: Schema, prefix: string): string[] {
  const rows = Object.entries(schema).map(([key, field]) => {
    const path = prefix + key;
    const doc = `${field.netnsOnly ? '*netns only.* ' : ''}${field.doc}`;
    return `| ${code(path)} | ${typeOf(field, path)} | ${defaultOf(field)} | ${doc} |`;
  });
  return ['| Field | Type | Default | What it does |', '| --- | --- | --- | --- |', ...rows];
}

/** A section per object (or list of objects) at any depth, after the table it appears in. */
function sections(schema: Schema, prefix: string): string[] {
  return Object.entries(schema).flatMap(([key, field]) => {
    if (!field.fields) return [];
    const path = field.type === 'array' ? `${prefix}${key}[]` : `${prefix}${key}`;
    const intro = field.type === 'array' ? `Each entry of ${code(prefix + key)}.` : field.doc;
    return [
      '',
      `## ${code(path)}`,
      '',
      intro,
      '',
      ...table(field.fields, `${path}.`),
      ...sections(field.fields, `${path}.`),
    ];
  });
}

export function renderConfigReference(schema: Schema = CONFIG_SCHEMA): string {
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs`; do not edit by hand (a unit test fails when this file is stale). -->',
    '',
    'Every field of `tandem.config.ts` (`export default defineStack({ ... })`). All are optional unless they say otherwise; an empty config is the textbook design. `tandem` checks the whole config before it starts anything and names each bad value by its path with slashes: `lb/port`, `hosts/1/address`.',
    '',
    ...table(schema, ''),
  ];
  lines.push(...sections(schema, ''));
  return `${lines.join('\n')}\n`;
}
