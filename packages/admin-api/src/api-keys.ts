/**
 * Caller API keys on the admin surface. The store only ever holds `key_hash`; the
 * plaintext exists in exactly two responses: a create without `key_hash` (the server
 * generates the key) and a rotate.
 */
import { generateApiKey, hashApiKey, type KindDef } from '@aisix/core';

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
 * what rotate is for.
 */
export function keepKeyHashOnReplace(
  kind: KindDef,
  incoming: Record<string, unknown>,
  stored: Record<string, unknown>,
): Record<string, unknown> {
  if (!isApiKeys(kind) || incoming.key_hash !== undefined || stored.key_hash === undefined) return incoming;
  return { ...incoming, key_hash: stored.key_hash };
}

/** New plaintext + hash; every other stored field (disabled, expires_at, ...) is preserved. */
export function rotateApiKey(stored: Record<string, unknown>): {
  value: Record<string, unknown>;
  plaintext: string;
} {
  const plaintext = generateApiKey();
  return { value: { ...stored, key_hash: hashApiKey(plaintext) }, plaintext };
}
