/**
 * The Vertex credential (providers.md §5): the ProviderKey `api_key` is JSON, either
 * `{project, region, access_token}` (a token the operator refreshes) or
 * `{project, region, service_account_json}` (we mint tokens; see token.ts). Exactly one of the
 * two; anything else is a 401 `invalid upstream credentials` naming what is wrong, never
 * echoing a value. `service_account_json` may be the key file's object or its text.
 *
 * `token_uri` comes from the key file (default Google's). It must be https, except on a loopback
 * host (local test doubles): the signed assertion is only ever sent there.
 *
 * Parsing is cached per credential string (bounded), so a request does not re-parse a key file.
 */
import { HEADER_VALUE_OK } from '../shared/credentials.js';

export interface ServiceAccount {
  readonly clientEmail: string;
  readonly privateKey: string;
  readonly tokenUri: string;
  readonly privateKeyId?: string;
}

export type VertexCredential =
  | { readonly project: string; readonly region: string; readonly accessToken: string }
  | { readonly project: string; readonly region: string; readonly serviceAccount: ServiceAccount };

export type CredentialResult =
  | { readonly ok: true; readonly credential: VertexCredential }
  | { readonly ok: false; readonly message: string };

export const DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token';

const PROJECT = /^[A-Za-z0-9][A-Za-z0-9.:_-]{0,127}$/;
const REGION = /^[a-z][a-z0-9-]{0,63}$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const CACHE_MAX = 128;

const cache = new Map<string, CredentialResult>();

function bad(what: string): CredentialResult {
  return { ok: false, message: `invalid upstream credentials: Vertex api_key ${what}` };
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function tokenUriOk(raw: string): boolean {
  try {
    const u = new URL(raw);
    return u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK.has(u.hostname));
  } catch {
    return false;
  }
}

function serviceAccount(v: unknown): ServiceAccount | string {
  let sa = obj(v);
  if (!sa && typeof v === 'string') {
    try {
      sa = obj(JSON.parse(v));
    } catch {
      sa = undefined;
    }
  }
  if (!sa) return 'service_account_json must be the service-account key file (object or JSON text)';
  const { client_email: email, private_key: key, token_uri: uri, private_key_id: kid } = sa;
  if (typeof email !== 'string' || email === '') return 'service_account_json has no client_email';
  if (typeof key !== 'string' || !key.includes('PRIVATE KEY')) {
    return 'service_account_json has no PEM private_key';
  }
  const tokenUri = typeof uri === 'string' && uri !== '' ? uri : DEFAULT_TOKEN_URI;
  if (!tokenUriOk(tokenUri)) return 'service_account_json token_uri must be an https URL';
  return {
    clientEmail: email,
    privateKey: key,
    tokenUri,
    ...(typeof kid === 'string' && kid !== '' ? { privateKeyId: kid } : {}),
  };
}

function parse(raw: string): CredentialResult {
  let j: Record<string, unknown> | undefined;
  try {
    j = obj(JSON.parse(raw));
  } catch {
    j = undefined;
  }
  if (!j) return bad('must be JSON {project, region, access_token | service_account_json}');
  const { project, region } = j;
  if (typeof project !== 'string' || !PROJECT.test(project)) return bad('has no valid project');
  if (typeof region !== 'string' || !REGION.test(region)) return bad('has no valid region');
  const hasToken = j.access_token !== undefined && j.access_token !== null;
  const hasSa = j.service_account_json !== undefined && j.service_account_json !== null;
  if (hasToken === hasSa) return bad('must have exactly one of access_token and service_account_json');
  if (hasToken) {
    const t = j.access_token;
    if (typeof t !== 'string' || t.trim() === '' || !HEADER_VALUE_OK.test(t)) {
      return bad('access_token is empty or not a valid header value');
    }
    return { ok: true, credential: { project, region, accessToken: t.trim() } };
  }
  const sa = serviceAccount(j.service_account_json);
  if (typeof sa === 'string') return bad(sa);
  return { ok: true, credential: { project, region, serviceAccount: sa } };
}

/** Parses (or recalls) the credential of a ProviderKey `api_key`. */
export function parseVertexCredential(raw: string | undefined): CredentialResult {
  if (raw === undefined || raw.trim() === '') return bad('is empty');
  const hit = cache.get(raw);
  if (hit) return hit;
  const r = parse(raw);
  if (cache.size >= CACHE_MAX) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(raw, r);
  return r;
}
