/**
 * The provider key's own credential, checked before it goes into a header. Its own module so
 * every adapter (and the shared passthrough) can read it without importing the OpenAI base,
 * which itself imports the passthrough: that pair was a runtime import cycle.
 */
import type { ProviderKeyView } from '../contract.js';

/** Visible ASCII, space and tab: what an HTTP header value may carry. */
export const HEADER_VALUE_OK = /^[\t\x20-\x7e]+$/;

/** The upstream credential, or the refusal message (never containing the secret). */
export function upstreamSecret(
  pk: ProviderKeyView,
): { ok: true; value: string } | { ok: false; message: string } {
  const key = pk.api_key ?? pk.secret ?? '';
  if (key.trim() === '')
    return { ok: false, message: 'invalid upstream credentials: provider key has an empty api_key' };
  if (!HEADER_VALUE_OK.test(key)) {
    return {
      ok: false,
      message:
        'invalid upstream credentials: provider key api_key contains bytes not allowed in an HTTP header',
    };
  }
  return { ok: true, value: key.trim() };
}
