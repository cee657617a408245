/**
 * The Anthropic family as an upstream for OpenAI-shaped chat (`pk.provider: anthropic`, or
 * `pk.adapter: anthropic` for any vendor serving the Messages API).
 *
 * This file is the descriptor: URL (`<root>/v1/messages`; the public host only for vendor
 * `anthropic` or none), credentials (`x-api-key` + `anthropic-version`, never `Authorization`),
 * the shared header pipeline and body overrides. The translations are pure functions in
 * `request.ts`, `response.ts` and `stream.ts`, exported here for the Claude-on-Vertex and
 * Claude-on-Bedrock adapters. Chat only: Anthropic has no legacy completions or embeddings, so
 * those are refused up front (501) rather than failing upstream.
 *
 * Native `/v1/messages` passthrough (Anthropic in, Anthropic out) is not here; it lives with the
 * ingress dialects.
 */
import type {
  Capabilities,
  Endpoint,
  PrepareInput,
  PrepareResult,
  ProviderAdapter,
  StreamOptions,
  StreamTranslator,
  TransformResult,
  UpstreamErrorInfo,
} from '../contract.js';
import { applyBodyOverrides } from '../shared/body.js';
import { upstreamSecret } from '../shared/credentials.js';
import { parseAnthropicWireError } from '../shared/errors.js';
import { applyDefaultHeaders, forwardClientHeaders } from '../shared/headers.js';
import { rawAnthropic } from '../shared/raw.js';
import { anthropicUrl } from '../shared/url.js';
import { toAnthropicRequest } from './request.js';
import { transformAnthropicText } from './response.js';
import { AnthropicStreamTranslator } from './stream.js';
import { ANTHROPIC_VERSION } from './wire.js';

export { type AutoPromptCaching, applyAutoPromptCaching } from './caching.js';
export { toAnthropicMessages } from './messages.js';
export {
  type AnthropicRequestOptions,
  type AnthropicRequestResult,
  DEFAULT_MAX_TOKENS,
  toAnthropicRequest,
  toAnthropicToolChoice,
  toAnthropicTools,
} from './request.js';
export {
  fromAnthropicResponse,
  mapStopReason,
  type OpenAiChatCompletion,
  openAiUsage,
  readAnthropicUsage,
  transformAnthropicText,
} from './response.js';
export { AnthropicStreamTranslator, createAnthropicStreamTranslator } from './stream.js';
export type { AnthropicRequest, AnthropicResponse } from './wire.js';
export { ANTHROPIC_VERSION, ERROR_TYPE_STATUS } from './wire.js';

const CAPABILITIES: Capabilities = {
  chat: true,
  chatStream: true,
  completions: false,
  completionsStream: false,
  embeddings: false,
};

function prepareAnthropic(input: PrepareInput): PrepareResult {
  const pk = input.providerKey;
  const url = anthropicUrl(pk.api_base, pk.provider ?? '');
  if (!url.ok) return { ok: false, error: { kind: 'invalid_config', message: url.message } };
  const secret = upstreamSecret(pk);
  if (!secret.ok) return { ok: false, error: { kind: 'invalid_credentials', message: secret.message } };
  const translated = toAnthropicRequest(input.body, input.upstreamModel, {
    stream: input.stream,
    autoPromptCaching: input.autoPromptCaching,
  });
  if (!translated.ok) return { ok: false, error: { kind: 'invalid_config', message: translated.message } };
  const headers: Record<string, string> = {
    'x-api-key': secret.value,
    'anthropic-version': ANTHROPIC_VERSION,
    'content-type': 'application/json',
    accept: input.stream ? 'text/event-stream' : 'application/json',
    'x-aisix-request-id': input.requestId,
    'user-agent': input.userAgent,
  };
  applyDefaultHeaders(headers, pk.request?.default_headers, input.templateVars);
  forwardClientHeaders(headers, pk.request?.forward_client_headers, input);
  const body: Record<string, unknown> = translated.body;
  applyBodyOverrides(body, pk);
  return { ok: true, request: { url: url.url, headers, body: JSON.stringify(body) } };
}

export const anthropicAdapter: ProviderAdapter = {
  id: 'anthropic',
  errorWire: 'anthropic',
  capabilities: CAPABILITIES,
  prepare: prepareAnthropic,
  prepareRaw: rawAnthropic,
  transformResponse(_endpoint: Endpoint, text: string, alias: string): TransformResult {
    return transformAnthropicText(text, alias, Math.floor(Date.now() / 1000));
  },
  createStreamTranslator(options: StreamOptions): StreamTranslator {
    return new AnthropicStreamTranslator(options);
  },
  parseError(_status: number, text: string): UpstreamErrorInfo {
    return parseAnthropicWireError(text);
  },
};
