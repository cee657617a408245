/**
 * JSON Merge Patch (RFC 7396): objects merge key by key, `null` removes a key, anything else
 * (arrays included) replaces. Keys are defined as own data properties, so a `__proto__` key
 * from JSON.parse stays a plain field and never reaches a prototype.
 */
type Doc = Record<string, unknown>;

const isPlainObject = (x: unknown): x is Doc => typeof x === 'object' && x !== null && !Array.isArray(x);

function define(out: Doc, key: string, value: unknown): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

function merge(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Doc = {};
  if (isPlainObject(target)) for (const [k, v] of Object.entries(target)) define(out, k, v);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else define(out, k, merge(out[k], v));
  }
  return out;
}

export function mergePatch(target: Readonly<Doc>, patch: Readonly<Doc>): Doc {
  return merge(target, patch) as Doc;
}
