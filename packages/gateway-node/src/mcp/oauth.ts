/**
 * OAuth 2.0 client-credentials tokens for upstream MCP servers (agents-and-jobs §2.8). Cached
 * per process by (token URL, client id, SHA-256 of the secret, scopes), so a rotated secret or
 * other scopes never reuse a token; reused until 60 s before expiry. Concurrent misses share
 * one token request. Failures name the status only: a token endpoint may echo the secret.
 */
import { createHash } from 'node:crypto';
import type { Net } from '../upstream/net.js';

export interface OAuthClient {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly secret: string;
  readonly scopes: readonly string[];
}

interface Cached {
  readonly token: string;
  readonly expiresAtMs: number;
}

const DEFAULT_TTL_S = 3600;
const MAX_TTL_S = 30 * 86_400;
const EARLY_S = 60;
const MAX_ENTRIES = 1000;

export class OAuthTokens {
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<string>>();

  static keyOf(c: OAuthClient): string {
    const h = createHash('sha256').update(c.secret).digest('hex');
    return `${c.tokenUrl}\u0000${c.clientId}\u0000${h}\u0000${c.scopes.join(' ')}`;
  }

  /** A valid access token: cached, or minted (one request however many callers wait). */
  token(c: OAuthClient, timeoutMs: number, net: Net): Promise<string> {
    const k = OAuthTokens.keyOf(c);
    const hit = this.cache.get(k);
    if (hit !== undefined && Date.now() < hit.expiresAtMs - EARLY_S * 1000) return Promise.resolve(hit.token);
    let p = this.inflight.get(k);
    if (p === undefined) {
      p = this.mint(c, k, timeoutMs, net).finally(() => this.inflight.delete(k));
      this.inflight.set(k, p);
    }
    return p;
  }

  /** An upstream answered 401: the next operation mints again. */
  drop(c: OAuthClient): void {
    this.cache.delete(OAuthTokens.keyOf(c));
  }

  private async mint(c: OAuthClient, k: string, timeoutMs: number, net: Net): Promise<string> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: c.clientId,
      client_secret: c.secret,
    });
    if (c.scopes.length > 0) form.set('scope', c.scopes.join(' '));
    // `net` refuses redirects (a 3xx is a failure).
    const res = await net(c.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      signal: AbortSignal.timeout(Math.min(timeoutMs, 30_000)),
    });
    if (res.status < 200 || res.status > 299) {
      await res.body?.cancel();
      throw new Error(`token endpoint answered HTTP ${res.status}`);
    }
    let doc: unknown;
    try {
      doc = await res.json();
    } catch {
      throw new Error('token endpoint answered malformed JSON');
    }
    const d = doc as { access_token?: unknown; expires_in?: unknown };
    if (typeof d.access_token !== 'string' || d.access_token === '')
      throw new Error('token endpoint answered without an access_token');
    const ttl =
      typeof d.expires_in === 'number' && d.expires_in > 0
        ? Math.min(d.expires_in, MAX_TTL_S)
        : DEFAULT_TTL_S;
    if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
    this.cache.set(k, { token: d.access_token, expiresAtMs: Date.now() + ttl * 1000 });
    return d.access_token;
  }
}

/** Per process (§2.8): every gateway of this process shares the token cache. */
export const oauthTokens = new OAuthTokens();
