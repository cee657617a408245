/**
 * The pure parts of JWT caller authentication (agents-and-jobs §4.1, §4.4): when a bearer is
 * JWT-shaped, the unverified header and issuer, and the claim rules applied to a payload whose
 * signature has been verified. No I/O and no crypto here, so every rule is unit-tested directly.
 */

/** The token is JWT-shaped (§4.1): ≤ 16 KiB, three non-empty segments, a header with `alg`. */
export function jwtHeader(token: string): Readonly<Record<string, unknown>> | undefined {
  if (token.length > 16 * 1024) return undefined;
  const a = token.indexOf('.');
  if (a <= 0) return undefined;
  const b = token.indexOf('.', a + 1);
  if (b <= a + 1 || b === token.length - 1 || token.indexOf('.', b + 1) !== -1) return undefined;
  const h = decodeSegment(token.slice(0, a));
  return h !== undefined && 'alg' in h ? h : undefined;
}

/** The payload segment as a JSON object, unverified; undefined when it is not one. */
export function unverifiedPayload(token: string): Readonly<Record<string, unknown>> | undefined {
  const parts = token.split('.');
  return parts.length === 3 ? decodeSegment(parts[1] as string) : undefined;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

function decodeSegment(seg: string): Readonly<Record<string, unknown>> | undefined {
  // Unpadded base64url only: Buffer would also accept `+/=`, which a JWS never carries.
  if (!B64URL.test(seg)) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Every JWS algorithm we can parse (step 1); only the asymmetric ones are allowed (step 4). */
export const KNOWN_ALGS: ReadonlySet<string> = new Set([
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
]);

/** Asymmetric only: HMAC never, so a public JWKS cannot act as a shared secret. */
export const ALLOWED_ALGS: ReadonlySet<string> = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'EdDSA',
]);

export type ClaimFailure =
  | 'jwt_missing_claim'
  | 'jwt_issuer_mismatch'
  | 'jwt_audience_mismatch'
  | 'jwt_expired'
  | 'jwt_not_yet_valid'
  | 'jwt_invalid';

export interface RegisteredClaimRules {
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Seconds, 0..300. */
  readonly leewaySecs: number;
}

/**
 * The registered claims of a verified payload (§4.4): `exp`, `iss`, `aud` required; `iss` exact;
 * `aud` a string or array holding one of the audiences; `exp < now − leeway` expired; `nbf`
 * (when present) `> now + leeway` not yet valid. `iat` is not checked. Undefined = passes.
 */
export function checkRegisteredClaims(
  p: Readonly<Record<string, unknown>>,
  rules: RegisteredClaimRules,
  nowSecs: number,
): ClaimFailure | undefined {
  if (p.exp === undefined || p.iss === undefined || p.aud === undefined) return 'jwt_missing_claim';
  if (p.iss !== rules.issuer) return 'jwt_issuer_mismatch';
  const aud = p.aud;
  const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : undefined;
  if (auds === undefined) return 'jwt_invalid';
  if (!auds.some((a) => typeof a === 'string' && rules.audiences.includes(a))) return 'jwt_audience_mismatch';
  if (typeof p.exp !== 'number' || !Number.isFinite(p.exp)) return 'jwt_invalid';
  if (p.exp < nowSecs - rules.leewaySecs) return 'jwt_expired';
  if (p.nbf !== undefined) {
    if (typeof p.nbf !== 'number' || !Number.isFinite(p.nbf)) return 'jwt_invalid';
    if (p.nbf > nowSecs + rules.leewaySecs) return 'jwt_not_yet_valid';
  }
  return undefined;
}

/** The token's scopes: `scope` as a space-delimited string or an array of strings; else none. */
export function tokenScopes(p: Readonly<Record<string, unknown>>): ReadonlySet<string> {
  const s = p.scope;
  if (typeof s === 'string') return new Set(s.split(' ').filter((x) => x !== ''));
  if (Array.isArray(s) && s.every((x) => typeof x === 'string')) return new Set(s as string[]);
  return new Set();
}

/** A claim by dotted path (`realm_access.roles`), walking nested objects only. */
export function claimAt(p: Readonly<Record<string, unknown>>, path: string): unknown {
  let cur: unknown = p;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    if (!Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

export interface ProviderRequirements {
  readonly requiredScopes?: readonly string[] | undefined;
  readonly boundClaims?: Readonly<Record<string, string | readonly string[]>> | undefined;
}

/**
 * Step 9: every required scope present, then every bound claim matching: a string equal to one
 * of the expected values, or an array with a string element equal to one. Other types never
 * match.
 */
export function checkRequirements(
  p: Readonly<Record<string, unknown>>,
  req: ProviderRequirements,
): 'jwt_scope_missing' | 'jwt_bound_claim_mismatch' | undefined {
  if (req.requiredScopes !== undefined && req.requiredScopes.length > 0) {
    const have = tokenScopes(p);
    for (const s of req.requiredScopes) if (!have.has(s)) return 'jwt_scope_missing';
  }
  if (req.boundClaims !== undefined) {
    for (const [path, expected] of Object.entries(req.boundClaims)) {
      const want: readonly string[] = typeof expected === 'string' ? [expected] : expected;
      const v = claimAt(p, path);
      const ok =
        typeof v === 'string'
          ? want.includes(v)
          : Array.isArray(v) && v.some((x) => typeof x === 'string' && want.includes(x));
      if (!ok) return 'jwt_bound_claim_mismatch';
    }
  }
  return undefined;
}

/** Step 10: the identity claim (dotted path, default `sub`) must be a string. */
export function identityOf(p: Readonly<Record<string, unknown>>, claim: string): string | undefined {
  const v = claimAt(p, claim);
  return typeof v === 'string' ? v : undefined;
}
