/**
 * Classifies one observed entry: key parse, UTF-8 + JSON parse, lenient schema read. The
 * result is GREEN (served), YELLOW (served, unknown fields recorded) or RED (not served,
 * with an error kind and a message). Never throws: one bad row must not abort a load.
 * Leaves out: last-known-good pinning and timestamps (the builder), and the schemas
 * themselves (`../validate.ts`, `../resources/`).
 */
import { pointerBeyondDepth, TOO_DEEP_REASON } from '../json-depth.js';
import { parseKey } from '../keys.js';
import type { KindName } from '../kinds.js';
import { parseRead } from '../validate.js';
import type { RejectKind } from './types.js';

/** At most this many unknown field paths are recorded per resource (bounds status size). */
export const MAX_UNKNOWN_FIELDS_PER_ROW = 64;

export type Classified =
  | {
      readonly ok: true;
      readonly kind: KindName;
      readonly id: string;
      readonly value: Record<string, unknown>;
      /** Deduplicated, at most MAX_UNKNOWN_FIELDS_PER_ROW; empty means GREEN. */
      readonly unknownFields: readonly string[];
    }
  | {
      readonly ok: false;
      readonly errorKind: RejectKind;
      /** Kind segment from the key, or empty when the key does not parse that far. */
      readonly resourceKind: string;
      readonly resourceId: string;
      /** Safe to show: never quotes the value (it may hold a secret). */
      readonly message: string;
    };

// fatal: invalid UTF-8 must reject, not decode to U+FFFD and then parse "successfully".
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function classify(prefix: string, key: string, bytes: Uint8Array): Classified {
  try {
    return classifyUnsafe(prefix, key, bytes);
  } catch {
    // A validator bug must not take the whole snapshot down; report the row instead.
    const k = parseKeyLoose(prefix, key);
    return { ok: false, errorKind: 'parse_failed', ...k, message: 'internal error while decoding the value' };
  }
}

function parseKeyLoose(prefix: string, key: string): { resourceKind: string; resourceId: string } {
  try {
    const k = parseKey(prefix, key);
    return { resourceKind: k.kind ?? '', resourceId: k.id ?? '' };
  } catch {
    return { resourceKind: '', resourceId: '' };
  }
}

function classifyUnsafe(prefix: string, key: string, bytes: Uint8Array): Classified {
  const k = parseKey(prefix, key);
  if (!k.ok) {
    const resourceKind = k.kind ?? '';
    const resourceId = k.id ?? '';
    const message =
      k.errorKind === 'unknown_kind'
        ? `unknown resource kind "${resourceKind}"`
        : `key is not of the form ${prefix}/<kind>/<id>`;
    return { ok: false, errorKind: k.errorKind, resourceKind, resourceId, message };
  }
  const base = { resourceKind: k.kind as string, resourceId: k.id };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, errorKind: 'non_json', ...base, message: 'value is not valid UTF-8' };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // JSON.parse messages quote the input, which may be a secret: use our own text.
    return { ok: false, errorKind: 'non_json', ...base, message: 'value is not valid JSON' };
  }
  // As the stores decide (`decodeDocument`): too deep to handle is no document.
  if (pointerBeyondDepth(doc) !== undefined) {
    return { ok: false, errorKind: 'non_json', ...base, message: TOO_DEEP_REASON };
  }
  const r = parseRead(k.kind, doc);
  if (!r.ok) return { ok: false, errorKind: r.errorKind, ...base, message: r.message };
  const unknownFields = [...new Set(r.unknownFields)].slice(0, MAX_UNKNOWN_FIELDS_PER_ROW);
  return { ok: true, kind: k.kind, id: k.id, value: r.value, unknownFields };
}
