/**
 * Caller authentication (data-plane §3.1–3.2): Bearer token (or `x-api-key` when there is no
 * Authorization header), looked up by lowercase hex SHA-256 in the snapshot, then the key's
 * lifecycle (disabled, expired). The token itself is never stored, logged or echoed.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ConfigSnapshot, Resource } from '@aisix/core';
import { errors, type GatewayError } from '../errors.js';
import { sendError } from '../http/respond.js';
import { apiKeyView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import type { RequestContext } from './context.js';

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

/** A key replaced by a rotation with a grace window: it authenticates as `key` until `untilMs`. */
interface GraceKey {
  readonly key: Resource<'api_keys'>;
  readonly untilMs: number;
}

/**
 * Per snapshot, the hashes of every `previous_keys` entry. Built on the first lookup that
 * misses the primary index and kept for as long as the snapshot lives, so it costs one pass
 * over the api keys per config change, never per request.
 */
const graceIndexes = new WeakMap<ConfigSnapshot, ReadonlyMap<string, GraceKey>>();

function graceIndex(snapshot: ConfigSnapshot): ReadonlyMap<string, GraceKey> {
  let index = graceIndexes.get(snapshot);
  if (index === undefined) {
    const m = new Map<string, GraceKey>();
    for (const key of snapshot.byId('api_keys').values()) {
      for (const p of apiKeyView(key).previous_keys ?? []) {
        const untilMs = Date.parse(p.expires_at);
        const had = m.get(p.key_hash);
        // The primary index wins; between two previous entries, the longer window.
        if (!snapshot.apiKeysByHash.has(p.key_hash) && (had === undefined || had.untilMs < untilMs)) {
          m.set(p.key_hash, { key, untilMs });
        }
      }
    }
    index = m;
    graceIndexes.set(snapshot, index);
  }
  return index;
}

/**
 * The api key a token hash belongs to: its current key, or a replaced one whose grace window
 * has not ended. The end is an absolute time from the store, compared with this replica's clock,
 * so every replica stops accepting the old key at the same moment with no timer or write.
 */
export function lookupKey(
  snapshot: ConfigSnapshot,
  hash: string,
  nowMs: number,
): Resource<'api_keys'> | undefined {
  const key = snapshot.apiKeysByHash.get(hash);
  if (key !== undefined) return key;
  const grace = graceIndex(snapshot).get(hash);
  // Valid at the exact end instant, like expires_at; an unparseable end (NaN) fails closed.
  return grace !== undefined && nowMs <= grace.untilMs ? grace.key : undefined;
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
  const key = lookupKey(snapshot, hashToken(token), nowMs);
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

/**
 * Authenticates the caller of a request: on success sets `ctx.apiKey` and returns the key; on
 * failure answers 401 (counted, never access-logged: scanner noise) and returns undefined.
 */
export function authenticateCaller(
  rt: GatewayRuntime,
  ctx: RequestContext,
): Resource<'api_keys'> | undefined {
  const auth = authenticate(ctx.req.headers, ctx.snapshot, Date.now());
  if (!auth.ok) {
    rt.metrics.authDenied(auth.reason);
    ctx.skipAccessLog = true;
    if (auth.reason === 'key_disabled' || auth.reason === 'key_expired') {
      rt.logger.warn({ request_id: ctx.id, reason: auth.reason }, 'caller key rejected');
    }
    sendError(ctx, rt.ident, auth.error);
    return undefined;
  }
  rt.metrics.authAllowed();
  ctx.apiKey = auth.key;
  return auth.key;
}
