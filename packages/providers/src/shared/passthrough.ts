/**
 * Passthrough calls on the OpenAI wire: `/rerank`, `/images/generations`, `/audio/speech`,
 * `/audio/transcriptions`, `/audio/translations`. The URL follows the family's `api_base` rules
 * (pasted suffixes stripped, bare host gets `/v1`, no default base for third-party vendors); the
 * credential and header pipeline are the chat path's. JSON bodies are the caller's with only
 * `model` rewritten, then the ProviderKey body overrides (the same order as every OpenAI-family
 * body). Multipart bodies are not built here: the gateway forwards the caller's bytes with the
 * `model` part rewritten, under the caller's `content-type` (its boundary), copied below.
 *
 * Responses are not transformed at all (the gateway relays status, content type and bytes), so
 * there is no response half in this file; errors use the family's `parseError`.
 */
import {
  isMultipartEndpoint,
  type PassthroughEndpoint,
  type PassthroughInput,
  type PrepareResult,
  refusal,
} from '../contract.js';
import { applyBodyOverrides } from './body.js';
import { upstreamSecret } from './credentials.js';
import { applyDefaultHeaders, forwardClientHeaders } from './headers.js';
import { openAiUrl } from './url.js';

export const PASSTHROUGH_PATHS: Readonly<Record<PassthroughEndpoint, string>> = {
  rerank: '/rerank',
  images_generations: '/images/generations',
  audio_speech: '/audio/speech',
  audio_transcriptions: '/audio/transcriptions',
  audio_translations: '/audio/translations',
};

function first(v: string | readonly string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : (v as string | undefined);
}

export function prepareOpenAiPassthrough(input: PassthroughInput): PrepareResult {
  const pk = input.providerKey;
  const url = openAiUrl(pk.api_base, pk.provider ?? '', PASSTHROUGH_PATHS[input.endpoint], false);
  if (!url.ok) return refusal('invalid_config', url.message);
  const secret = upstreamSecret(pk);
  if (!secret.ok) return refusal('invalid_credentials', secret.message);
  const multipart = isMultipartEndpoint(input.endpoint);
  const headers: Record<string, string> = {
    authorization: `Bearer ${secret.value}`,
    'content-type': multipart ? (first(input.inboundHeaders['content-type']) ?? '') : 'application/json',
    // Speech answers audio bytes; transcriptions may answer text, srt or vtt.
    accept:
      input.endpoint === 'rerank' || input.endpoint === 'images_generations' ? 'application/json' : '*/*',
    'x-aisix-request-id': input.requestId,
    'user-agent': input.userAgent,
  };
  applyDefaultHeaders(headers, pk.request?.default_headers, input.templateVars);
  forwardClientHeaders(headers, pk.request?.forward_client_headers, input);
  if (multipart) return { ok: true, request: { url: url.url, headers, body: '' } };
  const body: Record<string, unknown> = { ...input.body, model: input.upstreamModel };
  applyBodyOverrides(body, pk);
  return { ok: true, request: { url: url.url, headers, body: JSON.stringify(body) } };
}
