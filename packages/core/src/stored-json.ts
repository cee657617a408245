/**
 * Reading the bytes stored at a key as JSON, as the stores and the config loader both do, so
 * they agree on what is not a document and say why in the same words. A direct writer
 * (`etcdctl put`) may store any bytes. The reasons never quote the value (it may be a
 * credential; JSON.parse messages quote their input).
 */
import { nestedTooDeep, TOO_DEEP_REASON } from './json-depth.js';

export type StoredJson =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly reason: string };

// fatal: invalid UTF-8 must reject, not decode to U+FFFD and then parse "successfully".
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * UTF-8, then JSON, then the nesting bound: a value too deep for the recursive steps that handle
 * documents (masking, merge patch, validation) is not one.
 */
export function parseStoredJson(bytes: Uint8Array): StoredJson {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'value is not valid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'value is not valid JSON' };
  }
  if (nestedTooDeep(value)) return { ok: false, reason: TOO_DEEP_REASON };
  return { ok: true, value };
}
