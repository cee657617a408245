/**
 * Classifies one observed entry: key parse, UTF-8 + JSON parse, lenient schema read. The
 * result is GREEN (served), YELLOW (served, unknown fields recorded) or RED (not served,
 * with an error kind and a message). Never throws: one bad row must not abort a load.
 * Leaves out: last-known-good pinning and timestamps (the builder), and the schemas
 * themselves (`../validate.ts`, `../resources/`).
 */
import { parseKey } from '../keys.js';
import type { KindName } from '../kinds.js';
import { parseStoredJson } from '../stored-json.js';
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
  // As the stores decide (`parseStoredJson`): what is not JSON, or too deep to handle, is no document.
  const json = parseStoredJson(bytes);
  if (!json.ok) return { ok: false, errorKind: 'non_json', ...base, message: json.reason };
  const doc = json.value;
  const r = parseRead(k.kind, doc);
  if (!r.ok) return { ok: false, errorKind: r.errorKind, ...base, message: r.message };
  const unknownFields = [...new Set(r.unknownFields)].slice(0, MAX_UNKNOWN_FIELDS_PER_ROW);
  return { ok: true, kind: k.kind, id: k.id, value: r.value, unknownFields };
}
