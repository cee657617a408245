/**
 * JWT / OIDC caller authentication (agents-and-jobs §4): a verified JWT maps to exactly one
 * api key (`jwt_provider` + `jwt_subject`), and the request runs as that key. Providers and
 * bindings come from the request's snapshot (indexed once per snapshot); signing keys from the
 * process-wide `JwksCache`. Signature checks use `jose` (asynchronous WebCrypto); a verified
 * token's payload is remembered against the exact key set that verified it, so a token in use
 * costs one verification, not one per request, and a rotated set re-verifies.
 */
import type { ConfigSnapshot, OidcProvider, Resource } from '@aisix/core';
import type { importJWK, JWK } from 'jose';
import { type Jwk, JwksCache, type JwksOptions, type KeySet } from './jwks.js';
import {
  ALLOWED_ALGS,
  type ClaimFailure,
  checkRegisteredClaims,
  checkRequirements,
  identityOf,
  jwtHeader,
  KNOWN_ALGS,
  unverifiedPayload,
} from './jwt-claims.js';

export type JwtDenyReason =
  | 'jwt_malformed'
  | 'jwt_missing_issuer'
  | 'jwt_untrusted_issuer'
  | 'jwt_alg_not_allowed'
  | 'jwks_unavailable'
  | 'jwt_unknown_kid'
  | 'jwt_bad_signature'
  | ClaimFailure
  | 'jwt_scope_missing'
  | 'jwt_bound_claim_mismatch'
  | 'jwt_identity_claim_missing'
  | 'jwt_identity_unmapped';

/** Reasons logged at debug: decided before any key was looked at (probe noise). */
export const PRE_VERIFICATION: ReadonlySet<JwtDenyReason> = new Set([
  'jwt_malformed',
  'jwt_missing_issuer',
  'jwt_untrusted_issuer',
  'jwt_alg_not_allowed',
]);

export type JwtOutcome =
  | {
      readonly ok: true;
      readonly key: Resource<'api_keys'>;
      readonly provider: string;
      readonly kid?: string;
    }
  | {
      readonly ok: false;
      readonly reason: JwtDenyReason;
      readonly provider?: string;
      readonly issuer?: string;
      readonly kid?: string;
    };

interface SnapshotIndex {
  /** Enabled providers by issuer; two under one issuer fail closed. */
  readonly byIssuer: ReadonlyMap<string, readonly OidcProvider[]>;
  /** `provider\0subject` → the keys bound to it; more than one fails closed. */
  readonly bindings: ReadonlyMap<string, readonly Resource<'api_keys'>[]>;
}

type ImportedKey = Awaited<ReturnType<typeof importJWK>>;

/** `jose` is loaded with the first token to verify: a gateway without OIDC never pays for it. */
let joseModule: Promise<typeof import('jose')> | undefined;
const jose = () => (joseModule ??= import('jose'));

const MAX_VERIFIED = 10_000;
const VERIFIED_TTL_MS = 300_000;
const MAX_CANDIDATES = 8;

interface Verified {
  readonly set: KeySet;
  readonly payload: Readonly<Record<string, unknown>>;
  readonly at: number;
}

export class JwtAuthenticator {
  readonly jwks: JwksCache;
  private readonly indexes = new WeakMap<ConfigSnapshot, SnapshotIndex>();
  private readonly verified = new Map<string, Verified>();
  private readonly imported = new WeakMap<Jwk, Map<string, Promise<ImportedKey>>>();

  constructor(o: JwksOptions = {}) {
    this.jwks = new JwksCache(o);
  }

  /**
   * The JOSE header when this token takes the JWT path (§4.1): an enabled provider exists and
   * the token is JWT-shaped. Otherwise undefined, and the token is an api key.
   */
  header(snapshot: ConfigSnapshot, token: string): Readonly<Record<string, unknown>> | undefined {
    return this.index(snapshot).byIssuer.size > 0 ? jwtHeader(token) : undefined;
  }

  /** Steps 1–11 of §4.2; the key's lifecycle (step 12) is the caller's, as for api keys. */
  async authenticate(
    token: string,
    header: Readonly<Record<string, unknown>>,
    snapshot: ConfigSnapshot,
    nowMs: number,
  ): Promise<JwtOutcome> {
    const alg = header.alg;
    if (typeof alg !== 'string' || !KNOWN_ALGS.has(alg)) return { ok: false, reason: 'jwt_malformed' };
    const unverified = unverifiedPayload(token);
    if (unverified === undefined) return { ok: false, reason: 'jwt_malformed' };
    const iss = unverified.iss;
    if (typeof iss !== 'string') return { ok: false, reason: 'jwt_missing_issuer' };
    const idx = this.index(snapshot);
    const providers = idx.byIssuer.get(iss);
    if (providers === undefined || providers.length !== 1)
      return { ok: false, reason: 'jwt_untrusted_issuer' };
    const p = providers[0] as OidcProvider;
    if (!ALLOWED_ALGS.has(alg)) return { ok: false, reason: 'jwt_alg_not_allowed' };
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    const fail = (reason: JwtDenyReason): JwtOutcome => ({
      ok: false,
      reason,
      provider: p.name,
      issuer: iss,
      ...(kid === undefined ? {} : { kid }),
    });

    const url = await this.jwks.jwksUrl(p.issuer, p.jwks_uri);
    if (url === undefined) return fail('jwks_unavailable');
    let payload: Readonly<Record<string, unknown>> | undefined;
    const hit = this.verified.get(token);
    if (hit !== undefined && nowMs - hit.at < VERIFIED_TTL_MS && this.jwks.peekKeySet(url) === hit.set) {
      payload = hit.payload;
    } else {
      const v = await this.verify(token, alg, kid, url, nowMs);
      if (typeof v === 'string') return fail(v);
      payload = v;
    }

    const claims = checkRegisteredClaims(
      payload,
      { issuer: p.issuer, audiences: p.audiences, leewaySecs: p.leeway_secs ?? 0 },
      Math.floor(nowMs / 1000),
    );
    if (claims !== undefined) return fail(claims);
    const unmet = checkRequirements(payload, {
      requiredScopes: p.required_scopes,
      boundClaims: p.bound_claims,
    });
    if (unmet !== undefined) return fail(unmet);
    const identity = identityOf(payload, p.identity_claim ?? 'sub');
    if (identity === undefined) return fail('jwt_identity_claim_missing');
    const bound = idx.bindings.get(`${p.name}\u0000${identity}`);
    if (bound === undefined || bound.length !== 1) return fail('jwt_identity_unmapped');
    return {
      ok: true,
      key: bound[0] as Resource<'api_keys'>,
      provider: p.name,
      ...(kid === undefined ? {} : { kid }),
    };
  }

  /** Steps 6–8 up to the signature: the verified payload, or why not. */
  private async verify(
    token: string,
    alg: string,
    kid: string | undefined,
    url: string,
    nowMs: number,
  ): Promise<Readonly<Record<string, unknown>> | JwtDenyReason> {
    let set = await this.jwks.keySet(url);
    if (set === undefined) return 'jwks_unavailable';
    let candidates = candidateKeys(set, alg, kid);
    if (candidates.length === 0) {
      // Rotation: one refetch (rate-capped per URL), then a second look.
      set = (await this.jwks.keySet(url, true)) ?? set;
      candidates = candidateKeys(set, alg, kid);
      if (candidates.length === 0) return 'jwt_unknown_kid';
    }
    for (const jwk of candidates) {
      let bytes: Uint8Array;
      try {
        const key = await this.importKey(jwk, alg);
        // algorithms pins the header alg, so a key can never be used with another algorithm.
        bytes = (await (await jose()).compactVerify(token, key, { algorithms: [alg] })).payload;
      } catch {
        continue; // signature or algorithm mismatch: the next candidate
      }
      let payload: unknown;
      try {
        payload = JSON.parse(Buffer.from(bytes).toString('utf8'));
      } catch {
        return 'jwt_invalid';
      }
      if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return 'jwt_invalid';
      this.remember(token, { set, payload: payload as Record<string, unknown>, at: nowMs });
      return payload as Record<string, unknown>;
    }
    return 'jwt_bad_signature';
  }

  private importKey(jwk: Jwk, alg: string): Promise<ImportedKey> {
    let byAlg = this.imported.get(jwk);
    if (byAlg === undefined) {
      byAlg = new Map();
      this.imported.set(jwk, byAlg);
    }
    let k = byAlg.get(alg);
    if (k === undefined) {
      k = jose().then((j) => j.importJWK(jwk as JWK, alg));
      // A key that cannot be imported stays rejected without re-parsing it per request.
      k.catch(() => undefined);
      byAlg.set(alg, k);
    }
    return k;
  }

  private remember(token: string, v: Verified): void {
    if (this.verified.size >= MAX_VERIFIED) {
      const oldest = this.verified.keys().next();
      if (!oldest.done) this.verified.delete(oldest.value);
    }
    this.verified.set(token, v);
  }

  private index(snapshot: ConfigSnapshot): SnapshotIndex {
    let idx = this.indexes.get(snapshot);
    if (idx === undefined) {
      const byIssuer = new Map<string, OidcProvider[]>();
      for (const r of snapshot.byId('oidc_providers').values()) {
        const p = r.value;
        if (p.enabled === false) continue;
        const list = byIssuer.get(p.issuer);
        if (list === undefined) byIssuer.set(p.issuer, [p]);
        else list.push(p);
      }
      const bindings = new Map<string, Resource<'api_keys'>[]>();
      for (const k of snapshot.byId('api_keys').values()) {
        const { jwt_provider: prov, jwt_subject: sub } = k.value;
        if (typeof prov !== 'string' || typeof sub !== 'string') continue;
        const key = `${prov}\u0000${sub}`;
        const list = bindings.get(key);
        if (list === undefined) bindings.set(key, [k]);
        else list.push(k);
      }
      idx = { byIssuer, bindings };
      this.indexes.set(snapshot, idx);
    }
    return idx;
  }
}

/** §4.3: with `kid`, that key; without, every usable key (≤ 8). Usable: `use` sig, `alg` matching. */
export function candidateKeys(set: KeySet, alg: string, kid: string | undefined): Jwk[] {
  const out: Jwk[] = [];
  for (const k of set.keys) {
    if (k.use !== undefined && k.use !== 'sig') continue;
    if (k.alg !== undefined && k.alg !== alg) continue;
    if (kid !== undefined) {
      if (k.kid === kid) return [k];
      continue;
    }
    out.push(k);
    if (out.length >= MAX_CANDIDATES) break;
  }
  return out;
}
