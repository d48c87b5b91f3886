/**
 * A small block-style YAML writer for the monitoring configs (Prometheus, Alertmanager,
 * the blackbox exporter, promtool's tests), which nest lists of maps too deeply to write
 * line by line. Strings are plain when nothing in YAML could read them otherwise, else
 * single-quoted, or JSON-quoted when they hold a quote, a backslash or a newline (a JSON
 * string is a valid double-quoted YAML scalar).
 */
export type YamlValue =
  string | number | boolean | readonly YamlValue[] | { readonly [key: string]: YamlValue | undefined };

/** Words YAML 1.1 (Go's yaml.v2, which Prometheus uses) reads as booleans or null. */
const RESERVED = /^(y|n|yes|no|on|off|true|false|null|~)$/i;
const PLAIN = /^[A-Za-z_/][\w./-]*$/;
/** Prometheus durations (`5s`, `1m`) read well unquoted and no YAML reads them as numbers. */
const DURATION = /^\d+(ms|s|m|h|d|w|y)$/;

function scalar(value: string | number | boolean): string {
  if (typeof value !== 'string') return String(value);
  if ((PLAIN.test(value) && !RESERVED.test(value)) || DURATION.test(value)) return value;
  // Single quotes keep PromQL's double quotes readable; within them only `'` is special.
  return /['\n\\]/.test(value) ? JSON.stringify(value) : `'${value}'`;
}

type Nested = readonly YamlValue[] | { readonly [key: string]: YamlValue | undefined };

/** A list or map with something in it: written as an indented block. */
function isBlock(value: YamlValue): value is Nested {
  return typeof value === 'object' && Object.keys(value).length > 0;
}

function inline(value: YamlValue): string {
  if (typeof value !== 'object') return scalar(value);
  return Array.isArray(value) ? '[]' : '{}';
}

function block(value: Nested): string[] {
  if (Array.isArray(value)) {
    return (value as readonly YamlValue[]).flatMap((item) => {
      if (!isBlock(item)) return [`- ${inline(item)}`];
      const [first, ...rest] = block(item);
      return [`- ${first}`, ...rest.map((l) => `  ${l}`)];
    });
  }
  return Object.entries(value).flatMap(([key, v]) => {
    if (v === undefined) return [];
    return isBlock(v) ? [`${key}:`, ...block(v).map((l) => `  ${l}`)] : [`${key}: ${inline(v)}`];
  });
}

/** The YAML document of a map, ending with a newline. */
export function toYaml(value: { readonly [key: string]: YamlValue | undefined }): string {
  return `${block(value).join('\n')}\n`;
}
