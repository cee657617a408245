/**
 * Key helpers for the etcd store: key layout `<prefix>/<kind>/<id>`, etcd prefix range ends,
 * and the base64 encoding the JSON gateway speaks.
 *
 * Local on purpose for now: `@aisix/core`'s `keys.ts` (the one place segments are spelled)
 * was still a stub when this store was written. Switch `resourceKey`/`kindPrefix`/
 * `watchPrefix` to core's exports once they exist; the layout is identical.
 */
import type { KindName } from '@aisix/core';

/** `<prefix>/<kind>/<id>`; `prefix` has no trailing slash. */
export function resourceKey(prefix: string, kind: KindName, id: string): string {
  return `${prefix}/${kind}/${id}`;
}

/** `<prefix>/<kind>/` (trailing slash, so `models` never matches `models2`). */
export function kindPrefix(prefix: string, kind: KindName): string {
  return `${prefix}/${kind}/`;
}

/** `<prefix>/`: what gateways range and watch (trailing slash: `/aisix` never matches `/aisixfoo`). */
export function watchPrefix(prefix: string): string {
  return `${prefix}/`;
}

/**
 * etcd's range end for "every key starting with `key`": the key with its last byte
 * incremented, dropping trailing 0xff bytes. For `<prefix>/` this is `<prefix>0`.
 */
export function prefixRangeEnd(key: Uint8Array): Uint8Array {
  const end = Uint8Array.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    const b = end[i] ?? 0xff;
    if (b < 0xff) {
      end[i] = b + 1;
      return end.subarray(0, i + 1);
    }
  }
  // All 0xff: the range extends to the end of the keyspace (etcd's "\0").
  return new Uint8Array([0]);
}

export function utf8(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

export function b64(bytes: Uint8Array | string): string {
  return (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes)).toString('base64');
}

export function unb64(s: string | undefined): Buffer {
  return Buffer.from(s ?? '', 'base64');
}

/** int64 fields arrive as decimal strings (or are omitted when zero). */
export function int(s: string | number | undefined): number {
  if (s === undefined) return 0;
  const n = typeof s === 'number' ? s : Number(s);
  if (!Number.isSafeInteger(n)) throw new Error(`etcd returned a non-integer revision: ${String(s)}`);
  return n;
}
