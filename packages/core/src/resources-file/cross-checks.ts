/**
 * Checks across entries, run on validated documents: references to models by alias (globs
 * exempt), provider_key_id pointing at a provider key of the file, unique api-key hashes and
 * JWT bindings, distinct issuers among enabled OIDC providers, and no credentials in OIDC
 * URLs. Reference fields come from core's `references.ts`, which the Admin API checks too
 * (against the store, with wildcard aliases resolving as the proxy resolves them).
 */
import type { KindName } from '../kinds.js';
import { refDotted, referencesOf } from '../references.js';

export interface CheckedEntry {
  kind: KindName;
  index: number;
  identity: string;
  value: Record<string, unknown>;
}

export interface CrossCheckContext {
  /** Identities of every model in the file. */
  modelNames: ReadonlySet<string>;
  /** Derived ids of every provider key in the file. */
  providerKeyIds: ReadonlySet<string>;
}

const label = (e: CheckedEntry): string => `${e.kind}[${e.index}] ("${e.identity}")`;

/**
 * Model aliases (routing, ensemble, semantic targets; `allowed_models`) must be exact names
 * of the file's models and `provider_key_id` a derived provider-key id. The enumeration is
 * core's `referencesOf`; the file resolves only these two kinds, by exact name.
 */
function checkRefs(e: CheckedEntry, ctx: CrossCheckContext): string | null {
  for (const ref of referencesOf(e.kind, e.value)) {
    const path = refDotted(ref.path);
    if (ref.target === 'models' && ref.by === 'alias' && !ctx.modelNames.has(ref.value))
      return `${path}: "${ref.value}" names no model defined in this file`;
    if (ref.target === 'provider_keys' && !ctx.providerKeyIds.has(ref.value))
      return `${path}: "${ref.value}" is not the id of a provider key defined in this file`;
  }
  return null;
}

/** First api key seen per hash and per JWT binding (maps: a file may hold thousands of keys). */
interface ApiKeySeen {
  hashes: Map<unknown, CheckedEntry>;
  bindings: Map<string, CheckedEntry>;
}

function checkApiKey(e: CheckedEntry, ctx: CrossCheckContext, seen: ApiKeySeen): string | null {
  const subject = e.value.jwt_subject;
  const provider = e.value.jwt_provider;
  const binding =
    subject !== undefined && subject !== null && provider !== undefined && provider !== null
      ? JSON.stringify([provider, subject])
      : undefined;
  const dupHash = seen.hashes.get(e.value.key_hash);
  const dupBinding = binding === undefined ? undefined : seen.bindings.get(binding);
  if (!seen.hashes.has(e.value.key_hash)) seen.hashes.set(e.value.key_hash, e);
  if (binding !== undefined && !seen.bindings.has(binding)) seen.bindings.set(binding, e);
  const refs = checkRefs(e, ctx);
  if (refs !== null) return refs;
  if (dupHash) return `key_hash: the same key is already used by ${label(dupHash)}`;
  if (subject !== undefined && subject !== null) {
    if (provider === undefined || provider === null) return 'jwt_subject requires jwt_provider';
    if (dupBinding) return `(jwt_provider, jwt_subject) is already bound to ${label(dupBinding)}`;
  }
  return null;
}

const TOKEN_PARAM = /token|secret|password|passwd|api[-_]?key|credential|signature/i;
const TOKEN_PARAM_EXACT = new Set(['key', 'sig', 'auth', 'authorization', 'code', 'pwd']);

/** True when a URL carries userinfo or a token-like query parameter. */
export function urlHasCredentials(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false; // not a URL; the schema (or the request-time fetch) reports it
  }
  if (url.username !== '' || url.password !== '') return true;
  for (const name of url.searchParams.keys()) {
    if (TOKEN_PARAM.test(name) || TOKEN_PARAM_EXACT.has(name.toLowerCase())) return true;
  }
  return false;
}

function checkOidc(e: CheckedEntry, earlier: CheckedEntry[]): string | null {
  for (const field of ['issuer', 'jwks_uri'] as const) {
    const u = e.value[field];
    if (typeof u === 'string' && urlHasCredentials(u)) {
      return `${field} must not contain credentials (userinfo or token-like query parameters)`;
    }
  }
  if (e.value.enabled === false) return null;
  const dup = earlier.find((o) => o.value.enabled !== false && o.value.issuer === e.value.issuer);
  if (dup) return `issuer "${String(e.value.issuer)}" is also the issuer of enabled ${label(dup)}`;
  return null;
}

/** Returns the first cross-check failure of each failing entry. */
export function crossCheck(entries: CheckedEntry[], ctx: CrossCheckContext): Map<CheckedEntry, string> {
  const failures = new Map<CheckedEntry, string>();
  const seen: Partial<Record<KindName, CheckedEntry[]>> = {};
  const apiKeys: ApiKeySeen = { hashes: new Map(), bindings: new Map() };
  for (const e of entries) {
    const earlier = seen[e.kind] ?? [];
    let msg: string | null = null;
    if (e.kind === 'models') msg = checkRefs(e, ctx);
    else if (e.kind === 'api_keys') msg = checkApiKey(e, ctx, apiKeys);
    else if (e.kind === 'oidc_providers') msg = checkOidc(e, earlier);
    if (msg !== null) failures.set(e, msg);
    earlier.push(e);
    seen[e.kind] = earlier;
  }
  return failures;
}
