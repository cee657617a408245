/**
 * Realtime (WebSocket) handshakes of the OpenAI wire (agents-and-jobs §7.3): the data-plane §5.3
 * join of `api_base` and `/realtime`, the scheme turned into `ws:`/`wss:`, `?model=<upstream id>`,
 * and the PK bearer plus `OpenAI-Beta: realtime=v1`. Shared with Azure for the scheme rule.
 */
import type { RealtimeInput, RealtimeResult } from '../contract.js';
import { refusal } from '../contract.js';
import { upstreamSecret } from './credentials.js';
import { applyDefaultHeaders } from './headers.js';
import { openAiUrl } from './url.js';

const WS_SCHEMES: Readonly<Record<string, string>> = {
  'https:': 'wss:',
  'http:': 'ws:',
  'wss:': 'wss:',
  'ws:': 'ws:',
};

/** `base` with its scheme turned into the WebSocket one; undefined for any other scheme. */
export function toWebSocketUrl(base: string): string | undefined {
  const colon = base.indexOf(':');
  const ws = colon > 0 ? WS_SCHEMES[base.slice(0, colon + 1).toLowerCase()] : undefined;
  return ws === undefined ? undefined : ws + base.slice(colon + 1);
}

export const NOT_WS_BASE =
  'invalid upstream configuration: provider_key api_base must use an http(s) or ws(s) scheme for realtime';

/** Headers every realtime handshake carries, then the operator's `default_headers`. */
export function realtimeHeaders(input: RealtimeInput, own: Record<string, string>): Record<string, string> {
  own['user-agent'] = input.userAgent;
  applyDefaultHeaders(own, input.providerKey.request?.default_headers, input.templateVars);
  return own;
}

export function prepareOpenAiRealtime(input: RealtimeInput): RealtimeResult {
  const pk = input.providerKey;
  const url = openAiUrl(pk.api_base, pk.provider ?? '', '/realtime', false);
  if (!url.ok) return refusal('invalid_config', url.message);
  const ws = toWebSocketUrl(url.url.href);
  if (ws === undefined) return refusal('invalid_config', NOT_WS_BASE);
  const secret = upstreamSecret(pk);
  if (!secret.ok) return refusal('invalid_credentials', secret.message);
  const sep = ws.includes('?') ? '&' : '?';
  return {
    ok: true,
    request: {
      url: new URL(`${ws}${sep}model=${encodeURIComponent(input.upstreamModel)}`),
      headers: realtimeHeaders(input, {
        authorization: `Bearer ${secret.value}`,
        'openai-beta': 'realtime=v1',
      }),
    },
  };
}
