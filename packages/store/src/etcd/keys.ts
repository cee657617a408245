/**
 * etcd-specific key helpers: prefix range ends and the base64 / int64-string encodings the
 * JSON gateway speaks. The key layout itself (`resourceKey`, `kindPrefix`, `watchPrefix`)
 * comes from `@aisix/core`, the one place segments are spelled; re-exported here so the
 * etcd modules import from one place.
 */
export { kindPrefix, resourceKey, watchPrefix } from '@aisix/core';

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
