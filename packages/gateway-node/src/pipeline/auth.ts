/**
 * Caller authentication (data-plane §3.1–3.2): Bearer token (or `x-api-key` when there is no
 * Authorization header), looked up by lowercase hex SHA-256 in the snapshot, then the key's
 * lifecycle (disabled, expired). The token itself is never stored, logged or echoed.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ConfigSnapshot, Resource } from '@aisix/core';
import { errors, type GatewayError } from '../errors.js';
import { apiKeyView } from '../resources.js';

export type AuthDenyReason = 'missing_credentials' | 'unknown_key' | 'key_disabled' | 'key_expired';

export type AuthResult =
  | { readonly ok: true; readonly key: Resource<'api_keys'> }
  | { readonly ok: false; readonly reason: AuthDenyReason; readonly error: GatewayError };

const ASCII_VISIBLE = /^[\x20-\x7e]*$/;

/** The presented token, or undefined when credentials are missing or malformed. */
export function extractToken(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth !== undefined) {
    // Present but malformed never falls back to x-api-key.
    if (!auth.startsWith('Bearer ') || !ASCII_VISIBLE.test(auth)) return undefined;
    const token = auth.slice(7).trim();
    return token === '' ? undefined : token;
  }
  const raw = headers['x-api-key'];
  const xKey = Array.isArray(raw) ? raw[0] : raw;
  if (xKey === undefined) return undefined;
  const token = xKey.trim();
  return token === '' ? undefined : token;
}

/**
 * Presented token → hash, so a key in use is hashed once, not per request. Bounded: when full,
 * the oldest entry goes (a burst of unknown tokens only costs re-hashing). In memory only;
 * tokens are never logged.
 */
const HASH_CACHE_MAX = 10_000;
const hashCache = new Map<string, string>();

export function hashToken(token: string): string {
  let h = hashCache.get(token);
  if (h === undefined) {
    h = createHash('sha256').update(token, 'utf8').digest('hex');
    if (hashCache.size >= HASH_CACHE_MAX) {
      const oldest = hashCache.keys().next();
      if (!oldest.done) hashCache.delete(oldest.value);
    }
    hashCache.set(token, h);
  }
  return h;
}

function deny(reason: AuthDenyReason, error: GatewayError): AuthResult {
  return { ok: false, reason, error };
}

export function authenticate(
  headers: IncomingHttpHeaders,
  snapshot: ConfigSnapshot,
  nowMs: number,
): AuthResult {
  const token = extractToken(headers);
  if (token === undefined) return deny('missing_credentials', errors.missingCredentials());
  const key = snapshot.apiKeysByHash.get(hashToken(token));
  if (key === undefined) return deny('unknown_key', errors.unknownKey());
  const v = apiKeyView(key);
  if (v.disabled === true) return deny('key_disabled', errors.keyDisabled());
  if (v.expires_at) {
    const deadline = Date.parse(v.expires_at);
    // Valid at the exact deadline instant; an unparseable deadline fails closed.
    if (Number.isNaN(deadline) || deadline < nowMs) return deny('key_expired', errors.keyExpired());
  }
  return { ok: true, key };
}
