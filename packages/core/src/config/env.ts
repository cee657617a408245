/**
 * Environment overrides: `AISIX_A__B_C` sets key `a.b_c` (`__` nests, single underscores
 * stay in the key name). Values are coerced by the target key's type, so a string key never
 * turns into a number. Commas split a value only for the list keys the contract names
 * (other strings may be secrets containing commas); lists of objects take one JSON array.
 * A variable that names no key is ignored with a warning instead of failing the boot, so a
 * stray variable from a shell never breaks a deploy (the one `etcd.password_env` names is in
 * use, so it does not warn). `AISIX_CONFIG` (the config path) and
 * `AISIX_ADMIN_KEY` (the key of `aisix export/diff/apply`) belong to the CLI and are skipped
 * silently.
 */
import { ConfigError, isPlainObject } from './decode.js';
import { CONFIG_SPEC, type FieldSpec } from './spec.js';

export const ENV_PREFIX = 'AISIX_';
const CLI_OWN = new Set(['AISIX_CONFIG', 'AISIX_ADMIN_KEY']);

const UINT = /^\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Applies every `AISIX_*` variable to `raw` (mutated); returns the warnings. */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const warnings: string[] = [];
  const unknown: string[] = [];
  const names = Object.keys(env)
    .filter((n) => n.startsWith(ENV_PREFIX) && !CLI_OWN.has(n))
    .sort();
  for (const name of names) {
    const value = env[name];
    if (value === undefined) continue;
    const segments = name.slice(ENV_PREFIX.length).toLowerCase().split('__');
    const target = resolve(segments);
    if (target === 'unknown') {
      unknown.push(name);
      continue;
    }
    if (target === 'section') {
      warnings.push(`ignoring environment variable ${name}: it names a config section, not a key`);
      continue;
    }
    const path = segments.join('.');
    setPath(raw, segments, coerce(value, target, path, name));
  }
  // The variable `etcd.password_env` names (the reference example uses AISIX_ETCD_PASSWORD) is
  // read as the password: "ignoring" it would be a false alarm.
  const etcd = raw.etcd;
  const passwordEnv = isPlainObject(etcd) ? etcd.password_env : undefined;
  for (const name of unknown) {
    if (name !== passwordEnv) warnings.push(`ignoring environment variable ${name}: it names no config key`);
  }
  return warnings;
}

const PLACEHOLDER = /\$\{[^}]*\}/;

/**
 * Warnings for file values that look like `${VAR}` placeholders. config.yaml has no interpolation
 * (control-plane §1: only the resources file interpolates), so such a value is used as written:
 * a password `${REDIS_PASSWORD}` fails at the server, far from its cause. The warning names the
 * environment override to use instead (none when that override is set). Call it on the file's
 * values, before the overrides.
 */
export function placeholderWarnings(
  raw: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const warnings: string[] = [];
  const walk = (node: Readonly<Record<string, unknown>>, spec: typeof CONFIG_SPEC, path: string[]) => {
    for (const [key, value] of Object.entries(node)) {
      const field = Object.hasOwn(spec, key) ? spec[key] : undefined;
      if (field === undefined) continue;
      const at = [...path, key];
      if (field.t === 'object') {
        if (isPlainObject(value)) walk(value, field.spec, at);
        continue;
      }
      const text = typeof value === 'string' ? value : Array.isArray(value) ? JSON.stringify(value) : '';
      if (!PLACEHOLDER.test(text)) continue;
      const name = `${ENV_PREFIX}${at.map((s) => s.toUpperCase()).join('__')}`;
      if (env[name] !== undefined) continue; // overridden: the file's value is not used
      warnings.push(
        `${at.join('.')}: a \`\${...}\` placeholder is used as written (config.yaml has no interpolation); ` +
          `set the environment variable ${name} instead`,
      );
    }
  };
  walk(raw, CONFIG_SPEC, []);
  return warnings;
}

function resolve(segments: string[]): FieldSpec | 'unknown' | 'section' {
  let spec = CONFIG_SPEC;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if (seg === undefined || seg === '' || !Object.hasOwn(spec, seg)) return 'unknown';
    const field = spec[seg];
    if (field === undefined) return 'unknown';
    const last = i === segments.length - 1;
    if (field.t === 'object') {
      if (last) return 'section';
      spec = field.spec;
      continue;
    }
    return last ? field : 'unknown';
  }
  return 'unknown';
}

function bad(path: string, name: string, expected: string): never {
  throw new ConfigError(`deserialize: ${path} (from ${name}): invalid type: expected ${expected}`);
}

function coerce(value: string, f: FieldSpec, path: string, name: string): unknown {
  const v = value.trim();
  switch (f.t) {
    case 'string':
    case 'enum':
    case 'objectList':
      return value;
    case 'bool': {
      const lower = v.toLowerCase();
      if (lower === 'true') return true;
      if (lower === 'false') return false;
      return bad(path, name, 'a boolean (true or false)');
    }
    case 'uint':
      return UINT.test(v) ? Number(v) : bad(path, name, 'a non-negative integer');
    case 'number':
      return NUMBER.test(v) ? Number(v) : bad(path, name, 'a number');
    case 'workers':
      if (v === 'auto') return v;
      return UINT.test(v) ? Number(v) : bad(path, name, 'a positive integer or "auto"');
    case 'stringList':
      if (f.comma) return splitComma(v, path, name);
      return jsonList(v, path, name);
    case 'numberList':
      return splitComma(v, path, name).map((item) =>
        NUMBER.test(item) ? Number(item) : bad(path, name, 'numbers'),
      );
    case 'object':
      return bad(path, name, 'a key, not a section');
  }
}

/**
 * A blank value is refused rather than read as an empty list: `AISIX_ETCD__ENDPOINTS=` would
 * otherwise turn an etcd deployment into a private embedded store without a word (the reference
 * splits it into one empty endpoint, which fails as well).
 */
function splitComma(v: string, path: string, name: string): string[] {
  if (v === '')
    return bad(
      path,
      name,
      "a comma-separated list, not a blank value (unset the variable to keep the file's value)",
    );
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function jsonList(v: string, path: string, name: string): unknown {
  if (v === '') return [];
  if (!v.startsWith('[')) {
    return bad(path, name, 'a JSON array string (comma-separated values are not accepted for this key)');
  }
  try {
    return JSON.parse(v);
  } catch {
    return bad(path, name, 'a JSON array string');
  }
}

function setPath(root: Record<string, unknown>, segments: string[], value: unknown): void {
  let node = root;
  for (let i = 0; i < segments.length - 1; i++) {
    const seg = segments[i] as string;
    const next = node[seg];
    if (next === undefined || next === null) {
      const created: Record<string, unknown> = {};
      node[seg] = created;
      node = created;
    } else if (isPlainObject(next)) {
      node = next;
    } else {
      // The file holds a non-mapping here; leave it so decoding reports the file's error.
      return;
    }
  }
  node[segments[segments.length - 1] as string] = value;
}
