/**
 * Documents in the GitOps commands: identities (the resources file names entries by
 * `display_name` / `name`, FILE_COLLECTIONS, and live entries match file entries by the same
 * field), secret fields (from the kinds table) and fields left at their defaults.
 */
import { isDeepStrictEqual } from 'node:util';
import { FILE_COLLECTIONS, type KindName, kindByName, validateWrite } from '@aisix/core';
import type { Doc } from './refs.js';

export const FILE_KINDS: readonly KindName[] = FILE_COLLECTIONS.map((c) => c.kind);

/** The entry's identity, or undefined (an api key without display_name). */
export function identityOf(kind: KindName, value: Doc): string | undefined {
  const fields = FILE_COLLECTIONS.find((c) => c.kind === kind)?.identity ?? ['name'];
  for (const f of fields) {
    const v = value[f];
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

const isRecord = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One secret string inside a document: its dotted path and a setter. */
export interface SecretSlot {
  readonly path: string;
  readonly value: string;
  set(v: string): void;
}

/** Every secret string of `doc` (mutable slots into `doc` itself). */
export function secretSlots(kind: KindName, doc: Doc): SecretSlot[] {
  const slots: SecretSlot[] = [];
  for (const dotted of kindByName(kind)?.secretPaths ?? []) {
    const path = dotted.split('.');
    let node: unknown = doc;
    for (const step of path.slice(0, -1)) node = isRecord(node) ? node[step] : undefined;
    if (!isRecord(node)) continue;
    const parent = node;
    const leaf = path[path.length - 1] as string;
    const keys = leaf === '*' ? Object.keys(parent) : [leaf];
    for (const k of keys) {
      const v = parent[k];
      if (typeof v !== 'string') continue;
      const full = leaf === '*' ? [...path.slice(0, -1), k].join('.') : dotted;
      slots.push({
        path: full,
        value: v,
        set: (nv) => {
          parent[k] = nv;
        },
      });
    }
  }
  return slots;
}

/** `value` without the top-level fields whose absence validates to the same document. */
export function withoutDefaults(kind: KindName, value: Doc): Doc {
  let out = value;
  for (const key of Object.keys(value)) {
    const { [key]: _dropped, ...rest } = out;
    const r = validateWrite(kind, rest);
    if (r.ok && isDeepStrictEqual(r.value, value)) out = rest;
  }
  return out;
}

/**
 * An api key's `previous_keys: []` is no grace window, as is no `previous_keys` (apply sends
 * `[]` to end a window the file does not have, and the Admin API stores it as sent): compared
 * and exported as absent.
 */
export function withoutEmptyGrace(kind: KindName, doc: Doc): Doc {
  if (kind !== 'api_keys' || !Array.isArray(doc.previous_keys) || doc.previous_keys.length > 0) return doc;
  const { previous_keys: _none, ...rest } = doc;
  return rest;
}
