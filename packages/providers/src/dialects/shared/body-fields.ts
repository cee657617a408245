/**
 * The scalar fields a bridge forwards from a caller's dialect body to the OpenAI chat body, typed
 * as the caller's API types them: a wrong type is the caller's 400 (`BodyError`, which each
 * dialect's `toChat` renders with its own prefix), never forwarded upstream nor dropped silently.
 */
import type { Json } from './chat-types.js';

/** A caller body the bridge cannot translate; the message is the detail of the 400. */
export class BodyError extends Error {}

const present = (v: unknown): boolean => v !== undefined && v !== null;

/** Copies each present key of `keys`: a finite number. */
export function copyNumbers(body: Readonly<Json>, out: Json, keys: readonly string[]): void {
  for (const k of keys) {
    const v = body[k];
    if (!present(v)) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new BodyError(`${k}: must be a number`);
    out[k] = v;
  }
}

/** The first present key of `keys` as `out[to]`; every present one must be a non-negative integer. */
export function copyCount(body: Readonly<Json>, out: Json, keys: readonly string[], to: string): void {
  for (const k of keys) {
    const v = body[k];
    if (!present(v)) continue;
    if (!Number.isInteger(v) || (v as number) < 0)
      throw new BodyError(`${k}: must be a non-negative integer`);
    out[to] ??= v;
  }
}

/** Copies `key` when present: a boolean. */
export function copyBoolean(body: Readonly<Json>, out: Json, key: string): void {
  const v = body[key];
  if (!present(v)) return;
  if (typeof v !== 'boolean') throw new BodyError(`${key}: must be a boolean`);
  out[key] = v;
}
