/**
 * Decoding a stored value into a resource document, shared by both stores so they agree on
 * what is a document and on why a value is not one. A direct writer (`etcdctl put`) may store
 * any bytes; such a key still exists (writes act on it), it just holds no document. The reasons
 * are the texts the config sync reports for `non_json` rows, and never quote the value (it may
 * be a credential).
 */
import { parseStoredJson } from '@aisix/core';
import { StoreError } from './types.js';

export type Decoded =
  | { readonly ok: true; readonly value: Record<string, unknown> }
  | { readonly ok: false; readonly reason: string };

export function decodeDocument(bytes: Uint8Array): Decoded {
  const r = parseStoredJson(bytes);
  if (!r.ok) return r;
  const value = r.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'value is not a JSON object' };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

/** `get` of a key that exists but holds no document: the key's revision, the reason, no bytes. */
export function undecodable(kind: string, id: string, reason: string, revision: number): StoreError {
  return new StoreError(
    'undecodable',
    `${kind}/${id} holds a value that is not a JSON document (${reason})`,
    { currentRevision: revision },
  );
}
