/**
 * Caller authentication (data-plane §3.1–3.3): Bearer token (or `x-api-key` when there is no
 * Authorization header), looked up by lowercase hex SHA-256 in the snapshot, or, when it is
 * JWT-shaped and an OIDC provider is enabled, verified as a JWT and mapped to its bound key
 * (`auth/jwt.ts`); then the key's lifecycle (disabled, expired). The token itself is never stored, logged or echoed.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ConfigSnapshot, Resource } from '@aisix/core';
import { type JwtDenyReason, PRE_VERIFICATION } from '../auth/jwt.js';
import { errors, type GatewayError } from '../errors.js';
import { sendError } from '../http/respond.js';
import { apiKeyView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { clientIp } from './access.js';
import type { RequestContext } from './context.js';

export type AuthDenyReason =
  | 'missing_credentials'
  | 'unknown_key'
  | 'key_disabled'
  | 'key_expired'
  | JwtDenyReason;

/** The `method` label of `aisix_auth_decisions_total`. */
export type AuthMethod = 'api_key' | 'jwt' | 'none';

export type AuthResult =
  | { readonly ok: true; readonly key: Resource<'api_keys'>; readonly method: AuthMethod }
  | {
      readonly ok: false;
      readonly reason: AuthDenyReason;
      readonly error: GatewayError;
      readonly method: AuthMethod;
      /** The key refused by its lifecycle (disabled, expired): logged by id (§3.2). */
      readonly keyId?: string;
    };

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

function deny(
  reason: AuthDenyReason,
  error: GatewayError,
  method: AuthMethod = 'api_key',
  keyId?: string,
): AuthResult {
  return keyId === undefined
    ? { ok: false, reason, error, method }
    : { ok: false, reason, error, method, keyId };
}

/** The key's lifecycle (data-plane §3.2), shared by the api-key and JWT paths. */
function lifecycle(key: Resource<'api_keys'>, nowMs: number, method: AuthMethod): AuthResult {
  const v = apiKeyView(key);
  if (v.disabled === true) return deny('key_disabled', errors.keyDisabled(), method, key.id);
  if (v.expires_at) {
    const deadline = Date.parse(v.expires_at);
    // Valid at the exact deadline instant; an unparseable deadline fails closed.
    if (Number.isNaN(deadline) || deadline < nowMs)
      return deny('key_expired', errors.keyExpired(), method, key.id);
  }
  return { ok: true, key, method };
}

function keyPath(token: string, snapshot: ConfigSnapshot, nowMs: number): AuthResult {
  const key = lookupKey(snapshot, hashToken(token), nowMs);
  if (key === undefined) return deny('unknown_key', errors.unknownKey());
  return lifecycle(key, nowMs, 'api_key');
}

/** The api-key path only (data-plane §3.1–3.2); JWT bearers need `authenticateCaller`. */
export function authenticate(
  headers: IncomingHttpHeaders,
  snapshot: ConfigSnapshot,
  nowMs: number,
): AuthResult {
  const token = extractToken(headers);
  if (token === undefined) return deny('missing_credentials', errors.missingCredentials(), 'none');
  return keyPath(token, snapshot, nowMs);
}

function jwtError(reason: JwtDenyReason): GatewayError {
  switch (reason) {
    case 'jwt_expired':
      return errors.jwtExpired();
    case 'jwks_unavailable':
      return errors.jwksUnavailable();
    case 'jwt_scope_missing':
    case 'jwt_bound_claim_mismatch':
      return errors.jwtClaimsRejected();
    case 'jwt_identity_claim_missing':
    case 'jwt_identity_unmapped':
      return errors.jwtIdentityUnmapped();
    default:
      // The detailed reasons collapse so probes cannot learn which issuers are trusted (§4.5).
      return errors.jwtInvalid();
  }
}

/** A `kid` fit for a log line: escaped, at most 128 characters. */
function logKid(kid: string | undefined): string | undefined {
  return kid === undefined ? undefined : JSON.stringify(kid).slice(1, -1).slice(0, 128);
}

/**
 * Authenticates the caller of a request (data-plane §3.1–3.3, agents-and-jobs §4): an api key,
 * or a JWT mapped to the api key bound to its identity. On success sets `ctx.apiKey` and
 * gives the key; on failure answers 401/403/503 in the endpoint's envelope (counted; 401/403
 * are never access-logged: scanner noise) and gives undefined. An api key is answered at once,
 * without a promise; a JWT gives a promise, since its issuer's signing keys may need fetching.
 */
export function authenticateCaller(
  rt: GatewayRuntime,
  ctx: RequestContext,
  /** The presented token when a surface has its own place for it (realtime subprotocols). */
  token: string | undefined = extractToken(ctx.req.headers),
): Resource<'api_keys'> | undefined | Promise<Resource<'api_keys'> | undefined> {
  const nowMs = Date.now();
  if (token === undefined)
    return settle(rt, ctx, deny('missing_credentials', errors.missingCredentials(), 'none'));
  const header = rt.jwt.header(ctx.snapshot, token);
  if (header === undefined) return settle(rt, ctx, keyPath(token, ctx.snapshot, nowMs));
  return jwtPath(rt, ctx, token, header, nowMs);
}

async function jwtPath(
  rt: GatewayRuntime,
  ctx: RequestContext,
  token: string,
  /** The token's JOSE header. */
  header: Readonly<Record<string, unknown>>,
  nowMs: number,
): Promise<Resource<'api_keys'> | undefined> {
  // On the JWT path every failure is final: never retried as an api key (§4.1).
  const out = await rt.jwt.authenticate(token, header, ctx.snapshot, nowMs);
  if (out.ok) {
    rt.logger.debug({ request_id: ctx.id, provider: out.provider }, 'jwt caller authenticated');
    return settle(rt, ctx, lifecycle(out.key, nowMs, 'jwt'));
  }
  const fields = {
    request_id: ctx.id,
    reason: out.reason,
    provider: out.provider,
    issuer: out.issuer,
    kid: logKid(out.kid),
    method: ctx.req.method,
    path: ctx.path,
    client_ip: clientIp(ctx.req, rt.realIp),
  };
  if (PRE_VERIFICATION.has(out.reason)) rt.logger.debug(fields, 'jwt caller rejected');
  else rt.logger.warn(fields, 'jwt caller rejected');
  return settle(rt, ctx, deny(out.reason, jwtError(out.reason), 'jwt'));
}

/** Records the verdict; answers a refusal. */
function settle(rt: GatewayRuntime, ctx: RequestContext, auth: AuthResult): Resource<'api_keys'> | undefined {
  if (!auth.ok) {
    rt.metrics.authDenied(auth.reason, auth.method);
    // 401/403 refusals are scanner noise, counted only; a 503 (signing keys unavailable) is an
    // outage and is logged like any other answer (data-plane §12.1, agents-and-jobs §4.5).
    ctx.skipAccessLog = auth.error.status === 401 || auth.error.status === 403;
    if (auth.reason === 'key_disabled' || auth.reason === 'key_expired') {
      rt.logger.warn(
        { request_id: ctx.id, reason: auth.reason, method: auth.method, api_key_id: auth.keyId },
        'caller key rejected',
      );
    }
    sendError(ctx, rt.ident, auth.error);
    return undefined;
  }
  rt.metrics.authAllowed(auth.method);
  ctx.apiKey = auth.key;
  return auth.key;
}
