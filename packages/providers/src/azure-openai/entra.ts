/**
 * Azure credentials: a plain `api-key`, or Entra ID (Azure AD) client credentials when the
 * ProviderKey `api_key` is JSON:
 *
 *   {"tenant_id": "...", "client_id": "...", "client_secret": "...",
 *    "authority_host": "https://login.microsoftonline.com",   // optional (sovereign clouds, tests)
 *    "scope": "https://cognitiveservices.azure.com/.default"}  // optional
 *
 * Tokens come from `<authority_host>/<tenant_id>/oauth2/v2.0/token` (client-credentials grant) via
 * the HTTP client the gateway passes in (adapters own no sockets). They are cached per credential
 * until ~60 s before expiry, and concurrent requests share one in-flight mint, so a burst after
 * expiry costs one token call, not one per request.
 *
 * Nothing secret leaves this file: errors name the status and the token service's `error` token
 * (e.g. `invalid_client`), never the secret, the token or the service's free-text description.
 * Cache keys are hashes, so a heap dump of the map does not show the secret either.
 */
import { createHash } from 'node:crypto';
import type { AdapterHttpClient, ProviderKeyView } from '../contract.js';
import { upstreamSecret } from '../shared/credentials.js';
import { parseJsonObject } from '../shared/json.js';

export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';
export const DEFAULT_SCOPE = 'https://cognitiveservices.azure.com/.default';
/** Refresh this long before the token expires. */
const REFRESH_MARGIN_MS = 60_000;
const MINT_TIMEOUT_MS = 10_000;
const TENANT = /^[A-Za-z0-9.-]+$/;
const ERROR_TOKEN = /^[a-z_]{1,64}$/;

export interface EntraCredential {
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly authorityHost: string;
  readonly scope: string;
}

export type AzureCredential =
  | { readonly kind: 'api_key'; readonly key: string }
  | { readonly kind: 'entra'; readonly entra: EntraCredential };

export type CredentialResult =
  | { readonly ok: true; readonly credential: AzureCredential }
  | { readonly ok: false; readonly message: string };

function refuse(why: string): CredentialResult {
  return { ok: false, message: `invalid upstream credentials: ${why}` };
}

function nonEmpty(v: unknown): v is string {
  return typeof v === 'string' && v.trim() !== '';
}

/** Reads the ProviderKey secret as an Azure credential (JSON → Entra ID, else `api-key`). */
export function parseAzureCredential(pk: ProviderKeyView): CredentialResult {
  const raw = (pk.api_key ?? pk.secret ?? '').trim();
  if (!raw.startsWith('{')) {
    const s = upstreamSecret(pk);
    return s.ok
      ? { ok: true, credential: { kind: 'api_key', key: s.value } }
      : { ok: false, message: s.message };
  }
  let j: unknown;
  try {
    j = JSON.parse(raw);
  } catch {
    return refuse('azure-openai api_key looks like JSON but does not parse');
  }
  const o = (j !== null && typeof j === 'object' ? j : {}) as Record<string, unknown>;
  if (!nonEmpty(o.tenant_id) || !nonEmpty(o.client_id) || !nonEmpty(o.client_secret)) {
    return refuse('azure-openai Entra ID credential needs tenant_id, client_id and client_secret');
  }
  if (!TENANT.test(o.tenant_id)) return refuse('azure-openai tenant_id must be a GUID or a domain name');
  let authorityHost = DEFAULT_AUTHORITY_HOST;
  if (o.authority_host !== undefined) {
    let u: URL | undefined;
    try {
      u = nonEmpty(o.authority_host) ? new URL(o.authority_host) : undefined;
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:') || u.username !== '' || u.search !== '') {
      return refuse('azure-openai authority_host must be an http(s) origin');
    }
    authorityHost = u.origin;
  }
  const scope = nonEmpty(o.scope) ? o.scope : DEFAULT_SCOPE;
  return {
    ok: true,
    credential: {
      kind: 'entra',
      entra: {
        tenantId: o.tenant_id,
        clientId: o.client_id,
        clientSecret: o.client_secret,
        authorityHost,
        scope,
      },
    },
  };
}

export type TokenResult =
  | { readonly ok: true; readonly token: string }
  | { readonly ok: false; readonly message: string };

interface Entry {
  readonly token: string;
  /** Epoch ms after which the token is no longer handed out. */
  readonly refreshAt: number;
}

/** Per-adapter token cache with one in-flight mint per credential. */
export class EntraTokenCache {
  private readonly tokens = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<TokenResult>>();

  constructor(private readonly maxEntries = 256) {}

  /** Number of mints started (for tests and metrics). */
  mints = 0;

  async token(cred: EntraCredential, http: AdapterHttpClient, now: number): Promise<TokenResult> {
    const key = cacheKey(cred);
    const hit = this.tokens.get(key);
    if (hit && now < hit.refreshAt) return { ok: true, token: hit.token };
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.mint(key, cred, http, now).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async mint(
    key: string,
    cred: EntraCredential,
    http: AdapterHttpClient,
    now: number,
  ): Promise<TokenResult> {
    this.mints++;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: cred.clientId,
      client_secret: cred.clientSecret,
      scope: cred.scope,
    });
    // Rejections (unreachable token service) propagate: the gateway treats them as a transport
    // failure of the attempt (502, retryable), not as a bad credential.
    const r = await http.request(`${cred.authorityHost}/${cred.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      timeoutMs: MINT_TIMEOUT_MS,
    });
    const body = parseJsonObject(r.body);
    if (r.status >= 500) throw new Error(`Entra ID token service returned ${r.status}`);
    if (r.status < 200 || r.status >= 300) {
      const token = typeof body?.error === 'string' && ERROR_TOKEN.test(body.error) ? `, ${body.error}` : '';
      return {
        ok: false,
        message: `invalid upstream credentials: Entra ID token request was refused (status ${r.status}${token})`,
      };
    }
    const access = body?.access_token;
    if (typeof access !== 'string' || access === '' || !/^[\x21-\x7e]+$/.test(access)) {
      throw new Error('Entra ID token service returned no usable access_token');
    }
    const lifetimeMs = Math.max(0, Number(body?.expires_in ?? 0)) * 1000 || 3_600_000;
    // Short-lived tokens (< 2 min) are kept for half their life instead of never being reused.
    const margin = Math.min(REFRESH_MARGIN_MS, lifetimeMs / 2);
    this.store(key, { token: access, refreshAt: now + lifetimeMs - margin }, now);
    return { ok: true, token: access };
  }

  private store(key: string, e: Entry, now: number): void {
    if (this.tokens.size >= this.maxEntries) {
      for (const [k, v] of this.tokens) if (v.refreshAt <= now) this.tokens.delete(k);
      // Still full: drop the oldest insertion (Map keeps insertion order).
      if (this.tokens.size >= this.maxEntries) {
        const first = this.tokens.keys().next();
        if (!first.done) this.tokens.delete(first.value);
      }
    }
    this.tokens.set(key, e);
  }
}

function cacheKey(c: EntraCredential): string {
  return createHash('sha256')
    .update([c.authorityHost, c.tenantId, c.clientId, c.clientSecret, c.scope].join('\n'))
    .digest('hex');
}
