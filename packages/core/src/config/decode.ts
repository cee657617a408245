/**
 * Strict decoding of a raw config tree (file merged with env overrides) against the
 * schema tree in `spec.ts`: type checks, unknown keys, missing required keys, defaults.
 * Messages name the full key path and describe a wrong value by its type only, never by
 * its content, because config values include secrets (admin keys, Redis passwords).
 */
import type { FieldSpec, ObjectSpec } from './spec.js';

export class ConfigError extends Error {}

export function describeType(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(path: string, expected: string, got: unknown): never {
  throw new ConfigError(`deserialize: ${path}: invalid type: expected ${expected}, got ${describeType(got)}`);
}

const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

export function decodeObject(raw: unknown, spec: ObjectSpec, path: string): Record<string, unknown> {
  if (!isPlainObject(raw)) fail(path === '' ? '(root)' : path, 'a mapping', raw);
  for (const key of Object.keys(raw)) {
    if (!Object.hasOwn(spec, key)) {
      const where = join(path, key);
      throw new ConfigError(
        `deserialize: unknown field \`${where}\`, expected one of: ${Object.keys(spec).join(', ')}`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(spec)) {
    out[key] = decodeField(raw[key], field, join(path, key));
  }
  return out;
}

function decodeField(raw: unknown, f: FieldSpec, path: string): unknown {
  const absent = raw === undefined || raw === null;
  switch (f.t) {
    case 'object':
      if (absent) {
        if (f.required) throw new ConfigError(`deserialize: missing field \`${path}\``);
        return f.optional ? undefined : decodeObject({}, f.spec, path);
      }
      return decodeObject(raw, f.spec, path);
    case 'string':
      if (absent) {
        if (f.required) throw new ConfigError(`deserialize: missing field \`${path}\``);
        return f.def;
      }
      if (typeof raw !== 'string') fail(path, 'a string', raw);
      return raw;
    case 'bool':
      if (absent) return f.def;
      if (typeof raw !== 'boolean') fail(path, 'a boolean', raw);
      return raw;
    case 'uint':
      if (absent) return f.def;
      if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0) {
        fail(path, 'a non-negative integer', raw);
      }
      return raw;
    case 'number':
      if (absent) return f.def;
      if (typeof raw !== 'number' || Number.isNaN(raw)) fail(path, 'a number', raw);
      return raw;
    case 'enum':
      if (absent) return f.def;
      if (typeof raw !== 'string') fail(path, `one of ${f.values.join(', ')}`, raw);
      if (!f.values.includes(raw)) {
        throw new ConfigError(
          `deserialize: ${path}: unknown variant, expected one of: ${f.values.join(', ')}`,
        );
      }
      return raw;
    case 'workers':
      if (absent) return undefined;
      if (raw === 'auto') return raw;
      if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0) {
        fail(path, 'a positive integer or "auto"', raw);
      }
      return raw;
    case 'stringList':
      if (absent) return [];
      if (!Array.isArray(raw)) fail(path, 'a list of strings', raw);
      return raw.map((item, i) => {
        if (typeof item !== 'string') fail(`${path}[${i}]`, 'a string', item);
        return item;
      });
    case 'numberList':
      if (absent) return [...f.def];
      if (!Array.isArray(raw)) fail(path, 'a list of numbers', raw);
      return raw.map((item, i) => {
        if (typeof item !== 'number' || Number.isNaN(item)) fail(`${path}[${i}]`, 'a number', item);
        return item;
      });
    case 'objectList':
      return decodeObjectList(raw, f.item, path);
  }
}

function decodeObjectList(raw: unknown, item: ObjectSpec, path: string): Record<string, unknown>[] {
  let list = raw;
  if (list === undefined || list === null) return [];
  if (typeof list === 'string') list = parseJsonList(list, path);
  if (!Array.isArray(list)) fail(path, 'a list (or a JSON array string)', list);
  return list.map((entry, i) => decodeObject(entry, item, `${path}[${i}]`));
}

/** The JSON-array string form of a list of objects (env values, or a string in the file). */
export function parseJsonList(text: string, path: string): unknown[] {
  if (text.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`deserialize: ${path}: invalid JSON array string`);
  }
  if (!Array.isArray(parsed)) fail(path, 'a JSON array', parsed);
  return parsed;
}
