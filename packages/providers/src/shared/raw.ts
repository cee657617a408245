/**
 * The raw tunnel `/passthrough/:provider/*rest`: where the caller's bytes go and which
 * credential they carry. Nothing is translated: the gateway forwards the caller's method, path,
 * query, headers and body, and relays the answer as it is.
 *
 * - Base: the key's `api_base`, else a built-in default for `openai`, `anthropic`, `google`
 *   (and our `gemini`) and `deepseek` (the `:provider` of the path), but only when the key is not another vendor's
 *   (never send a third-party key to a vendor's default host); else 400.
 * - A leading `vN/` (also `v1beta/`...) of the rest is dropped when the base already ends in the
 *   same segment.
 * - Credentials per family: each adapter's `prepareRaw` (Bearer, `x-api-key`, `x-goog-api-key`,
 *   `api-key`, SigV4, OAuth via `authorize`); keys no adapter serves get `rawGeneric`.
 */

import { ANTHROPIC_VERSION } from '../anthropic/wire.js';
import type { ProviderAdapter, ProviderKeyView, RawInput, RawResult } from '../contract.js';
import { refusal } from '../contract.js';
import { upstreamSecret } from './credentials.js';

const DEFAULT_BASES: Readonly<Record<string, string>> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  google: 'https://generativelanguage.googleapis.com',
  // Our vendor id for the native Gemini API (`provider: gemini`), same host.
  gemini: 'https://generativelanguage.googleapis.com',
  deepseek: 'https://api.deepseek.com',
};

/** `v1`, `v2`, `v1beta`...: a version segment the base may already end with. */
const VERSION_PREFIX = /^(v\d+[a-z0-9]*)(\/|$)/;

type Fail = Extract<RawResult, { ok: false }>;

function invalid(message: string): Fail {
  return refusal('invalid_config', `invalid upstream configuration: ${message}`);
}

/** The base URL of a raw call: `api_base`, else the path provider's default (see above). */
export function rawBase(pk: ProviderKeyView, provider: string): string | Fail {
  const base = (pk.api_base ?? '').trim().replace(/\/+$/, '');
  if (base !== '') return base;
  const vendor = pk.provider ?? '';
  const fallback = DEFAULT_BASES[provider];
  if (fallback === undefined || (vendor !== '' && vendor !== provider)) {
    return invalid(
      `provider_key for vendor ${JSON.stringify(vendor || provider)} has no upstream base URL configured`,
    );
  }
  return fallback;
}

/** `base` + `/` + rest (a repeated `vN/` dropped) + query. */
export function rawUrl(base: string, rest: string, query: string): URL | Fail {
  let path = rest;
  const m = VERSION_PREFIX.exec(path);
  if (m !== null && base.endsWith(`/${m[1]}`)) path = path.slice(m[0].length);
  let u: URL;
  try {
    u = new URL(`${base}/${path}${query}`);
  } catch {
    return invalid('provider_key api_base is not a valid URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    return invalid('provider_key api_base must be http(s)');
  return u;
}

/** The URL of `input` under `base` (or the default base) with `credential` headers set over the caller's. */
export function rawWith(
  input: RawInput,
  credential: Readonly<Record<string, string>>,
  base: string | Fail = rawBase(input.providerKey, input.provider),
): RawResult {
  if (typeof base !== 'string') return base;
  const url = rawUrl(base, input.rest, input.query);
  if (!(url instanceof URL)) return url;
  return {
    ok: true,
    url,
    headers: { ...input.headers, ...credential, 'x-aisix-request-id': input.requestId },
  };
}

/** A plain secret as a header (`authorization: Bearer ...` when `name` is authorization). */
export function rawSecret(input: RawInput, name: string): RawResult {
  const secret = upstreamSecret(input.providerKey);
  if (!secret.ok) return refusal('invalid_credentials', secret.message);
  return rawWith(input, { [name]: name === 'authorization' ? `Bearer ${secret.value}` : secret.value });
}

/** Anthropic's key header, and the API version the caller sent (else the gateway's default). */
export function rawAnthropic(input: RawInput): RawResult {
  const r = rawSecret(input, 'x-api-key');
  if (r.ok) r.headers['anthropic-version'] = input.headers['anthropic-version'] ?? ANTHROPIC_VERSION;
  return r;
}

/** Keys no adapter serves: the credential style of the path provider (Bearer for the rest). */
function rawGeneric(input: RawInput): RawResult {
  if (input.provider === 'anthropic') return rawAnthropic(input);
  if (input.provider === 'google' || input.provider === 'gemini') return rawSecret(input, 'x-goog-api-key');
  return rawSecret(input, 'authorization');
}

/** The one entry point: the adapter's `prepareRaw`, else the generic credential. */
export function prepareRaw(adapter: ProviderAdapter | undefined, input: RawInput): RawResult {
  return adapter?.prepareRaw ? adapter.prepareRaw(input) : rawGeneric(input);
}
