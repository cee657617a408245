/**
 * Caller API keys on the admin surface. The store only ever holds `key_hash`; the
 * plaintext exists in exactly two responses: a create without `key_hash` (the server
 * generates the key) and a rotate.
 */
import { generateApiKey, hashApiKey, type KindDef, MAX_PREVIOUS_KEYS } from '@aisix/core';
import { readJsonBody } from './body.js';
import { AdminHttpError } from './errors.js';
import type { ResourceReader } from './reader.js';

const isApiKeys = (kind: KindDef): boolean => kind.kind === 'api_keys';

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * For an api-key create whose body has no `key_hash`, generates a key and puts its hash in
 * the document. Any other body passes through untouched (validation reports its problems).
 */
export function prepareApiKeyCreate(kind: KindDef, body: unknown): { doc: unknown; plaintext?: string } {
  if (!isApiKeys(kind) || !isPlainObject(body) || body.key_hash !== undefined) return { doc: body };
  const plaintext = generateApiKey();
  return { doc: { ...body, key_hash: hashApiKey(plaintext) }, plaintext };
}

/**
 * A PUT on an api key that omits `key_hash` keeps the stored hash: replacing the other
 * fields (models, limits, expiry) must not silently revoke the caller's key. A new key is
 * what rotate is for. Likewise an omitted `previous_keys` keeps a running grace window
 * (send `previous_keys: []` to end it).
 */
export function keepKeyHashOnReplace(
  kind: KindDef,
  incoming: Record<string, unknown>,
  stored: Record<string, unknown>,
): Record<string, unknown> {
  if (!isApiKeys(kind)) return incoming;
  const out = { ...incoming };
  if (out.key_hash === undefined && stored.key_hash !== undefined) out.key_hash = stored.key_hash;
  if (out.previous_keys === undefined && stored.previous_keys !== undefined) {
    out.previous_keys = stored.previous_keys;
  }
  return out;
}

const sameEntry = (a: unknown, b: unknown): boolean =>
  isPlainObject(a) && isPlainObject(b) && a.key_hash === b.key_hash && a.expires_at === b.expires_at;

/**
 * `previous_keys` belongs to rotate: it is what lets a replaced key keep working for a bounded
 * window (at most 30 days, `MAX_GRACE_SECS`), and its hashes authenticate as this key. Any
 * other write (create, PUT, PATCH) may keep it, shorten it or clear it (ending windows early,
 * as documented) but never add an entry or move an end time: each entry of the new document
 * must be one of the stored entries, each used once. Otherwise 400 at `/previous_keys`.
 */
export function checkPreviousKeysUnchanged(
  kind: KindDef,
  next: Record<string, unknown>,
  stored: Record<string, unknown>,
): void {
  if (!isApiKeys(kind) || next.previous_keys === undefined) return;
  const unused = Array.isArray(stored.previous_keys) ? [...stored.previous_keys] : [];
  const entries = Array.isArray(next.previous_keys) ? next.previous_keys : [];
  for (const e of entries) {
    const at = unused.findIndex((u) => sameEntry(u, e));
    if (at === -1) {
      throw new AdminHttpError(
        400,
        'schema validation failed at /previous_keys: previous_keys can only be kept, shortened or ' +
          'cleared by a create, PUT or PATCH; a replaced key enters it only through ' +
          'POST /admin/v1/api_keys/{id}/rotate with {"grace_secs": N}',
      );
    }
    unused.splice(at, 1);
  }
}

/** Every hash a stored api-key document authenticates: its `key_hash` and its previous keys'. */
function hashesOf(doc: Record<string, unknown>): { pointer: string; hash: string }[] {
  const out: { pointer: string; hash: string }[] = [];
  if (typeof doc.key_hash === 'string') out.push({ pointer: '/key_hash', hash: doc.key_hash });
  if (Array.isArray(doc.previous_keys)) {
    doc.previous_keys.forEach((p, i) => {
      if (isPlainObject(p) && typeof p.key_hash === 'string')
        out.push({ pointer: `/previous_keys/${i}`, hash: p.key_hash });
    });
  }
  return out;
}

/**
 * A presented key must authenticate as one api key at most. The store keeps `key_hash` unique
 * atomically (409 `name "<hash>" already in use`); this extends the rule to `previous_keys`: no
 * hash of the document (its key_hash or a previous key's) may be another api key's key_hash or
 * previous key, else 409 naming the field (the hash is not quoted). Check-then-write, like the
 * reference checks: a racing write through another admin process could still slip between.
 */
export async function checkApiKeyHashes(
  reader: ResourceReader,
  kind: KindDef,
  id: string,
  next: Record<string, unknown>,
): Promise<void> {
  if (!isApiKeys(kind)) return;
  const mine = hashesOf(next);
  if (mine.length === 0) return;
  for (const other of await reader.list(kind.kind)) {
    if (other.id === id) continue;
    const theirs = hashesOf(other.value);
    for (const m of mine) {
      const clash = theirs.find(
        (t) => t.hash === m.hash && !(m.pointer === '/key_hash' && t.pointer === '/key_hash'),
      );
      // key_hash against key_hash is the store's atomic unique constraint.
      if (clash !== undefined) {
        throw new AdminHttpError(
          409,
          `the key hash at ${m.pointer} is already in use by another api key (at ${clash.pointer.replace(/\/\d+$/, '')}); a key can authenticate as one api key only`,
        );
      }
    }
  }
}

/** Longest grace window a rotation accepts: 30 days. */
export const MAX_GRACE_SECS = 30 * 24 * 3600;

export interface RotateOptions {
  /** Seconds the replaced key keeps working; 0 = it stops at once. */
  readonly graceSecs: number;
}

/**
 * The optional rotate body `{"grace_secs": N}`. No body (the reference's form) is no grace;
 * a body must be JSON with only that field.
 */
export async function readRotateOptions(req: Request): Promise<RotateOptions> {
  // HTTP/1.1 frames a body by Content-Length or Transfer-Encoding; with neither there is none.
  const length = req.headers.get('content-length');
  const hasBody = (length !== null && Number(length) > 0) || req.headers.has('transfer-encoding');
  if (!hasBody) return { graceSecs: 0 };
  const body = await readJsonBody(req, 4096);
  if (!isPlainObject(body))
    throw new AdminHttpError(400, 'rotate body must be a JSON object such as {"grace_secs": 3600}');
  for (const k of Object.keys(body)) {
    if (k !== 'grace_secs')
      throw new AdminHttpError(400, `malformed rotate body: unknown field \`${k}\`, expected grace_secs`);
  }
  const g = body.grace_secs ?? 0;
  if (typeof g !== 'number' || !Number.isInteger(g) || g < 0 || g > MAX_GRACE_SECS) {
    throw new AdminHttpError(
      400,
      `schema validation failed at /grace_secs: must be an integer from 0 to ${MAX_GRACE_SECS} (30 days)`,
    );
  }
  return { graceSecs: g };
}

interface PreviousKey {
  readonly key_hash: string;
  readonly expires_at: string;
}

function livePreviousKeys(stored: Record<string, unknown>, nowMs: number): PreviousKey[] {
  const list = Array.isArray(stored.previous_keys) ? stored.previous_keys : [];
  return list.filter(
    (p): p is PreviousKey =>
      isPlainObject(p) &&
      typeof p.key_hash === 'string' &&
      typeof p.expires_at === 'string' &&
      Date.parse(p.expires_at) > nowMs,
  );
}

/**
 * New plaintext + hash; every other stored field (disabled, expires_at, ...) is preserved.
 * With a grace window the replaced hash joins `previous_keys` until now + grace (an absolute
 * time, so every replica ends it at the same moment); keys whose window already ended are
 * dropped. Without one, the replaced key and any still in a window stop at once: a rotation
 * without grace is the response to a leaked key.
 */
export function rotateApiKey(
  stored: Record<string, unknown>,
  opts: RotateOptions = { graceSecs: 0 },
  nowMs: number = Date.now(),
): {
  value: Record<string, unknown>;
  plaintext: string;
} {
  const plaintext = generateApiKey();
  const { previous_keys: _old, ...rest } = stored;
  const value: Record<string, unknown> = { ...rest, key_hash: hashApiKey(plaintext) };
  if (opts.graceSecs > 0 && typeof stored.key_hash === 'string') {
    const expires_at = new Date(nowMs + opts.graceSecs * 1000).toISOString();
    const kept = [...livePreviousKeys(stored, nowMs), { key_hash: stored.key_hash, expires_at }];
    // Over the cap, the keys closest to the end of their window go first.
    kept.sort((a, b) => Date.parse(a.expires_at) - Date.parse(b.expires_at));
    value.previous_keys = kept.slice(-MAX_PREVIOUS_KEYS);
  }
  return { value, plaintext };
}
