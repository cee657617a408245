/**
 * Signing keys for JWT callers (agents-and-jobs §4.3): OIDC discovery per issuer and JWK sets
 * per URL, cached per process (they survive config reloads), fresh for 600 s, refetched at most
 * once per second, single-flight (concurrent requests share one fetch), and a failed refetch
 * keeps what was cached. Every fetch is async: a request waits on the network, the event loop
 * never does. Fetches go over the gateway's upstream `Net` (`upstream.*`, `upstream.tls`).
 */
import type { Net } from '../upstream/net.js';

export interface Jwk {
  readonly kty?: unknown;
  readonly kid?: unknown;
  readonly use?: unknown;
  readonly alg?: unknown;
  readonly [k: string]: unknown;
}

/** One fetched JWK set. A new object per fetch, so verified-token caches can tell sets apart. */
export interface KeySet {
  readonly keys: readonly Jwk[];
}

export interface JwksOptions {
  /** Freshness of a discovery document / JWK set, ms (600 s). */
  readonly freshMs?: number;
  /** Minimum gap between two fetch attempts of one URL / issuer, ms (1 s). */
  readonly minGapMs?: number;
  /** Per-fetch deadline, ms (5 s). */
  readonly timeoutMs?: number;
  readonly now?: () => number;
  /** HTTP for the fetches (the gateway passes its upstream `Net`); default: global fetch. */
  readonly fetch?: Net;
}

const MAX_BODY = 512 * 1024;
const CREDENTIAL_PARAMS = new Set([
  'access_token',
  'token',
  'client_secret',
  'password',
  'api_key',
  'apikey',
]);

/** A URL we may fetch keys from: http(s), no user-info, no credential-like query parameter. */
export function credentialFreeUrl(raw: string): URL | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  if (u.username !== '' || u.password !== '') return undefined;
  for (const k of u.searchParams.keys()) if (CREDENTIAL_PARAMS.has(k.toLowerCase())) return undefined;
  return u;
}

interface Entry<T> {
  value?: T;
  fetchedAt: number;
  attemptAt: number;
  inflight?: Promise<void>;
}

/** GET with the §4.3 fetch rules: 5 s, no redirects, 2xx only, ≤ 512 KiB, JSON. */
async function fetchJson(net: Net, url: string, timeoutMs: number): Promise<unknown> {
  const res = await net(url, {
    method: 'GET',
    redirect: 'manual',
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (res.status < 200 || res.status > 299) {
    await res.body?.cancel();
    throw new Error(`status ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY) {
    await res.body?.cancel();
    throw new Error('body too large');
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body !== null) {
    for await (const c of res.body) {
      size += c.byteLength;
      if (size > MAX_BODY) throw new Error('body too large');
      chunks.push(c);
    }
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function asKeySet(v: unknown): KeySet {
  if (v === null || typeof v !== 'object' || !Array.isArray((v as { keys?: unknown }).keys)) {
    throw new Error('not a JWK set');
  }
  const keys = (v as { keys: unknown[] }).keys.filter(
    (k): k is Jwk => k !== null && typeof k === 'object' && !Array.isArray(k),
  );
  return { keys };
}

export class JwksCache {
  private readonly freshMs: number;
  private readonly minGapMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly net: Net;
  private readonly discovery = new Map<string, Entry<string>>();
  private readonly sets = new Map<string, Entry<KeySet>>();

  constructor(o: JwksOptions = {}) {
    this.freshMs = o.freshMs ?? 600_000;
    this.minGapMs = o.minGapMs ?? 1_000;
    this.timeoutMs = o.timeoutMs ?? 5_000;
    this.now = o.now ?? Date.now;
    this.net = o.fetch ?? fetch;
  }

  /**
   * The JWKS URL of a provider: its `jwks_uri` when set (credential-free), else discovery from
   * the issuer, whose document must name the same issuer and a credential-free `jwks_uri` on the
   * issuer's origin. Undefined = unavailable.
   */
  async jwksUrl(issuer: string, jwksUri: string | undefined): Promise<string | undefined> {
    if (jwksUri !== undefined) return credentialFreeUrl(jwksUri)?.href;
    const origin = credentialFreeUrl(issuer);
    if (origin === undefined) return undefined;
    const docUrl = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    return this.cached(this.discovery, issuer, false, async () => {
      const doc = await fetchJson(this.net, docUrl, this.timeoutMs);
      if (doc === null || typeof doc !== 'object') throw new Error('discovery is not an object');
      const d = doc as { issuer?: unknown; jwks_uri?: unknown };
      if (d.issuer !== issuer || typeof d.jwks_uri !== 'string') throw new Error('discovery mismatch');
      const u = credentialFreeUrl(d.jwks_uri);
      // URL.origin normalises the default port, so `https://h` and `https://h:443` match.
      if (u === undefined || u.origin !== origin.origin) throw new Error('jwks_uri off the issuer origin');
      return u.href;
    });
  }

  /**
   * The key set at `url`: cached while fresh; `force` (an unknown `kid`) refetches now unless an
   * attempt was made within the last second. Undefined = nothing cached and the fetch failed.
   */
  keySet(url: string, force = false): Promise<KeySet | undefined> {
    return this.cached(this.sets, url, force, async () =>
      asKeySet(await fetchJson(this.net, url, this.timeoutMs)),
    );
  }

  /** The cached set without any fetch (the verified-token fast path). */
  peekKeySet(url: string): KeySet | undefined {
    const e = this.sets.get(url);
    return e !== undefined && this.now() - e.fetchedAt < this.freshMs ? e.value : undefined;
  }

  private async cached<T>(
    map: Map<string, Entry<T>>,
    k: string,
    force: boolean,
    load: () => Promise<T>,
  ): Promise<T | undefined> {
    let e = map.get(k);
    if (e === undefined) {
      e = { fetchedAt: 0, attemptAt: Number.NEGATIVE_INFINITY };
      map.set(k, e);
    }
    const now = this.now();
    const fresh = e.value !== undefined && now - e.fetchedAt < this.freshMs;
    if (fresh && !force) return e.value;
    if (e.inflight === undefined && now - e.attemptAt >= this.minGapMs) {
      // Stamped before fetching, so a burst of requests starts one fetch, not one each.
      e.attemptAt = now;
      const entry = e;
      entry.inflight = load().then(
        (v) => {
          entry.value = v;
          entry.fetchedAt = this.now();
          entry.inflight = undefined;
        },
        () => {
          // A failed refetch keeps the previous value.
          entry.inflight = undefined;
        },
      );
    }
    if (e.inflight !== undefined) await e.inflight;
    return e.value;
  }
}
