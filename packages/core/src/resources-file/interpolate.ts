/**
 * `${VAR}` interpolation of string values in a resources file. It runs on the parsed tree
 * (never on the text, never on mapping keys), so an environment value can only ever become
 * part of one string and cannot inject YAML structure. Messages name the variable and the
 * field path but never a value, since the variables usually hold secrets.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export class InterpolationError extends Error {}

/** `${VAR}` → value (unset or empty is an error), `$$` → `$`, a bare `$VAR` stays as is. */
export function interpolateString(s: string, env: Env): string {
  if (!s.includes('$')) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = s[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next !== '{') {
      out += '$';
      i++;
      continue;
    }
    const close = s.indexOf('}', i + 2);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the message names the literal syntax
    if (close < 0) throw new InterpolationError('unterminated "${" (missing "}")');
    const name = s.slice(i + 2, close);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the message names the literal syntax
    if (name === '') throw new InterpolationError('empty "${}"');
    const value = env[name];
    if (value === undefined) throw new InterpolationError(`environment variable ${name} is not set`);
    if (value === '') throw new InterpolationError(`environment variable ${name} is empty`);
    out += value;
    i = close + 1;
  }
  return out;
}

export function joinPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** Interpolates every string value in a JSON-like tree; returns a new tree. Throws
 * InterpolationError with the field path prefixed. */
export function interpolateTree(value: unknown, env: Env, path = ''): unknown {
  if (typeof value === 'string') {
    try {
      return interpolateString(value, env);
    } catch (e) {
      if (e instanceof InterpolationError && path !== '')
        throw new InterpolationError(`${path}: ${e.message}`);
      throw e;
    }
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateTree(v, env, joinPath(path, i)));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateTree(v, env, joinPath(path, k));
    return out;
  }
  return value;
}
