/**
 * Caller API keys on the admin surface. The store only ever holds `key_hash`; the
 * plaintext exists in exactly two responses: a create without `key_hash` (the server
 * generates the key) and a rotate.
 */
import { generateApiKey, hashApiKey, type KindDef, MAX_PREVIOUS_KEYS } from '@aisix/core';
import { readJsonBody } from './body.js';
import { AdminHttpError } from './errors.js';

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
