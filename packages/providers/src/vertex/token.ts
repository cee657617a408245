/**
 * OAuth2 access tokens for a Google service account (the JWT-bearer grant, RFC 7523), without a
 * Google SDK: an RS256 assertion `{iss: client_email, scope: cloud-platform, aud: token_uri,
 * iat, exp: iat+3600}` signed with node:crypto and exchanged at `token_uri` through the HTTP
 * client the gateway hands in (adapters do no I/O of their own).
 *
 * Cache: one token per service account (keyed by a hash of email, token URI and key, so a rotated
 * key mints anew), reused until 60 s before it expires, bounded (oldest evicted). Concurrent
 * requests for the same account share one in-flight mint. Failures are not cached, so a fixed
 * credential works on the next request.
 *
 * Outcomes: the token; a refusal (bad PEM, token endpoint 4xx such as `invalid_grant`) → 401
 * `invalid upstream credentials`; token endpoint 5xx / unreachable / garbled → a thrown Error,
 * which the gateway treats as a transport failure (502, retryable). No message ever carries the
 * key, the assertion or a token.
 */
import { createHash, createPrivateKey, sign } from 'node:crypto';
import type { AdapterHttpClient } from '../contract.js';
import type { ServiceAccount } from './credentials.js';

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const JWT_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const REFRESH_MARGIN_MS = 60_000;
const ASSERTION_LIFETIME_S = 3600;

export type TokenResult =
  | { readonly ok: true; readonly token: string }
  | { readonly ok: false; readonly message: string };

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

function b64url(s: string | Buffer): string {
  return Buffer.from(s).toString('base64url');
}

/** Signs the RS256 assertion; undefined when the key is not a usable RSA private key. */
export function signAssertion(sa: ServiceAccount, nowMs: number): string | undefined {
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(sa.privateKey);
  } catch {
    return undefined;
  }
  if (key.asymmetricKeyType !== 'rsa') return undefined;
  const iat = Math.floor(nowMs / 1000);
  const header = { alg: 'RS256', typ: 'JWT', ...(sa.privateKeyId ? { kid: sa.privateKeyId } : {}) };
  const claims = {
    iss: sa.clientEmail,
    scope: CLOUD_PLATFORM_SCOPE,
    aud: sa.tokenUri,
    iat,
    exp: iat + ASSERTION_LIFETIME_S,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('RSA-SHA256', Buffer.from(input), key))}`;
}

/** A short, value-free token endpoint error code (`invalid_grant`), if the body has one. */
function oauthErrorCode(body: string): string | undefined {
  try {
    const e = (JSON.parse(body) as { error?: unknown }).error;
    return typeof e === 'string' && /^[a-z_]{1,40}$/.test(e) ? e : undefined;
  } catch {
    return undefined;
  }
}

export interface TokenMinterOptions {
  readonly maxEntries?: number;
  readonly timeoutMs?: number;
}

export class TokenMinter {
  private readonly cache = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<TokenResult>>();
  private readonly maxEntries: number;
  private readonly timeoutMs: number;
  /** Token endpoint calls made (for tests and metrics). */
  mints = 0;

  constructor(opts: TokenMinterOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 256;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  async token(sa: ServiceAccount, http: AdapterHttpClient, now: number): Promise<TokenResult> {
    const key = createHash('sha256')
      .update(`${sa.clientEmail}\0${sa.tokenUri}\0${sa.privateKey}`)
      .digest('base64url');
    const hit = this.cache.get(key);
    if (hit && now < hit.expiresAt - REFRESH_MARGIN_MS) return { ok: true, token: hit.token };
    let p = this.inflight.get(key);
    if (!p) {
      p = this.mint(key, sa, http, now).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async mint(
    key: string,
    sa: ServiceAccount,
    http: AdapterHttpClient,
    now: number,
  ): Promise<TokenResult> {
    const assertion = signAssertion(sa, now);
    if (!assertion) {
      return {
        ok: false,
        message: 'invalid upstream credentials: service_account_json private_key is not a usable RSA key',
      };
    }
    this.mints++;
    const r = await http.request(sa.tokenUri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: JWT_GRANT, assertion }).toString(),
      timeoutMs: this.timeoutMs,
    });
    if (r.status >= 400 && r.status < 500) {
      const code = oauthErrorCode(r.body);
      return {
        ok: false,
        message: `invalid upstream credentials: the token endpoint refused the service account (${code ?? `HTTP ${r.status}`})`,
      };
    }
    if (r.status < 200 || r.status >= 300) throw new Error(`token endpoint returned HTTP ${r.status}`);
    let token: unknown;
    let expiresIn: unknown;
    try {
      ({ access_token: token, expires_in: expiresIn } = JSON.parse(r.body) as Record<string, unknown>);
    } catch {
      throw new Error('token endpoint returned an unparseable body');
    }
    if (typeof token !== 'string' || token === '' || !/^[\x21-\x7e]+$/.test(token)) {
      throw new Error('token endpoint returned no usable access_token');
    }
    const ttl = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : 3600;
    if (this.cache.size >= this.maxEntries && !this.cache.has(key)) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(key, { token, expiresAt: now + ttl * 1000 });
    return { ok: true, token };
  }
}
