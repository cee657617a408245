/**
 * The OpenAI-compatible adapter base. A vendor on this wire is data: an id, its capabilities and
 * (rarely) a hook; everything else — URL rules, credentials, header pipeline, body overrides,
 * `include_usage` injection, usage extraction, model rewrite, error parsing — lives here once.
 *
 * Non-streaming chat/completions bodies pass through whole (all choices, logprobs,
 * system_fingerprint; decision OP-5) with only `model` rewritten to the caller's alias.
 * Embeddings bodies pass through untouched (`model` is echoed as the upstream returned it), but
 * for the `usage` counters an upstream left out (0).
 */
import type {
  Capabilities,
  Endpoint,
  PrepareInput,
  PrepareResult,
  ProviderAdapter,
  ProviderKeyView,
  StreamOptions,
  StreamTranslator,
  TransformResult,
  UpstreamErrorInfo,
  Usage,
} from '../contract.js';
import { emptyUsage, refusal } from '../contract.js';
import { openAiBodyText } from './body.js';
import { upstreamSecret } from './credentials.js';
import { parseOpenAiInBandError, parseOpenAiWireError } from './errors.js';
import { applyDefaultHeaders, forwardClientHeaders } from './headers.js';
import { prepareOpenAiJob } from './jobs.js';
import { modelKeyAtTop, rewriteModelField } from './json-scan.js';
import { OpenAiStreamTranslator } from './openai-stream.js';
import { prepareOpenAiPassthrough } from './passthrough.js';
import { rawSecret } from './raw.js';
import { prepareOpenAiRealtime } from './realtime.js';
import { openAiUrl } from './url.js';
import { readOpenAiUsage } from './usage.js';

const ENDPOINT_PATHS: Record<Endpoint, string> = {
  chat: '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
};

export const ALL_CAPABILITIES: Capabilities = {
  chat: true,
  chatStream: true,
  completions: true,
  completionsStream: true,
  embeddings: true,
};

export interface OpenAiCompatibleSpec {
  readonly id: string;
  readonly capabilities?: Partial<Capabilities>;
  /** Serves `/v1/realtime` (OpenAI itself and the generic `adapter: openai` family). */
  readonly realtime?: boolean;
}

/** What a provider key contributes to every OpenAI-wire request: URL per endpoint, auth header. */
interface KeyParts {
  readonly auth: { ok: true; value: string } | { ok: false; message: string };
  readonly urls: Partial<Record<Endpoint, ReturnType<typeof openAiUrl>>>;
}

/**
 * Per provider key (snapshot values are immutable: a changed key is a new object), so a request
 * pays one WeakMap lookup instead of the URL-cache key, the credential checks and the trim.
 */
const keyParts = new WeakMap<ProviderKeyView, KeyParts>();

function partsOf(
  pk: ProviderKeyView,
  endpoint: Endpoint,
): { parts: KeyParts; url: ReturnType<typeof openAiUrl> } {
  let parts = keyParts.get(pk);
  if (parts === undefined) {
    const secret = upstreamSecret(pk);
    parts = { auth: secret.ok ? { ok: true, value: `Bearer ${secret.value}` } : secret, urls: {} };
    keyParts.set(pk, parts);
  }
  let url = parts.urls[endpoint];
  if (url === undefined) {
    url = openAiUrl(pk.api_base, pk.provider ?? '', ENDPOINT_PATHS[endpoint], endpoint === 'chat');
    parts.urls[endpoint] = url;
  }
  return { parts, url };
}

function prepareOpenAi(input: PrepareInput): PrepareResult {
  const pk = input.providerKey;
  const { parts, url } = partsOf(pk, input.endpoint);
  if (!url.ok) return refusal('invalid_config', url.message);
  if (!parts.auth.ok) return refusal('invalid_credentials', parts.auth.message);
  const headers: Record<string, string> = {
    authorization: parts.auth.value,
    'content-type': 'application/json',
    accept: input.stream ? 'text/event-stream' : 'application/json',
    'x-aisix-request-id': input.requestId,
    'user-agent': input.userAgent,
  };
  const req = pk.request;
  if (req) {
    applyDefaultHeaders(headers, req.default_headers, input.templateVars);
    forwardClientHeaders(headers, req.forward_client_headers, input);
  }
  // Read by the stream translator (data-plane §5.6: a streaming override).
  const rf = input.stream ? pk.response?.reasoning_field : undefined;
  return {
    ok: true,
    request: {
      url: url.url,
      headers,
      body: openAiBodyText(input),
      ...(rf ? { meta: { reasoning_field: rf } } : {}),
    },
  };
}

function transformOpenAi(endpoint: Endpoint, text: string, alias: string): TransformResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, message: 'upstream returned an unparseable body: invalid JSON' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, message: 'upstream returned an unparseable body: not a JSON object' };
  }
  // An error object where the answer should be (some OpenAI-compatible upstreams answer errors
  // with a 200): an in-band error, as the same payload in a stream is (data-plane §6.2).
  const answer = parsed as { error?: unknown; choices?: unknown; data?: unknown };
  if (
    answer.error !== undefined &&
    answer.error !== null &&
    (endpoint === 'embeddings' ? answer.data : answer.choices) === undefined
  ) {
    return { ok: false, message: 'upstream answered with an error', error: parseOpenAiInBandError(text) };
  }
  const usage = emptyUsage();
  readOpenAiUsage((parsed as { usage?: unknown }).usage, usage);
  if (endpoint === 'embeddings') return embeddingsAnswer(text, parsed as Record<string, unknown>, usage);
  const body = rewriteModelField(text, JSON.stringify(alias), true);
  if (body === text) return { ok: true, body, usage, value: parsed };
  // The parse mirrors the rewrite only when the rewritten key is the top-level `model` (or the
  // answer had none and it was stamped in).
  const stamped = (parsed as { model?: unknown }).model === undefined && modelKeyAtTop(body);
  if (!stamped && !modelKeyAtTop(text)) return { ok: true, body, usage };
  (parsed as { model?: unknown }).model = alias;
  return { ok: true, body, usage, value: parsed };
}

/**
 * An embeddings answer passes through as the upstream wrote it, except that `usage` counters it
 * left out are 0 (data-plane §4.3: `usage: {prompt_tokens, total_tokens}`, missing fields
 * default to 0), so a client reading `usage.total_tokens` always finds a number. Only such an
 * answer is re-serialized.
 */
function embeddingsAnswer(text: string, parsed: Record<string, unknown>, usage: Usage): TransformResult {
  const u = parsed.usage;
  const had = u !== null && typeof u === 'object' && !Array.isArray(u) ? (u as Record<string, unknown>) : {};
  if (typeof had.prompt_tokens === 'number' && typeof had.total_tokens === 'number')
    return { ok: true, body: text, usage, value: parsed };
  parsed.usage = {
    ...had,
    prompt_tokens: typeof had.prompt_tokens === 'number' ? had.prompt_tokens : 0,
    total_tokens: typeof had.total_tokens === 'number' ? had.total_tokens : 0,
  };
  return { ok: true, body: JSON.stringify(parsed), usage, value: parsed };
}

/** Builds an OpenAI-wire adapter. */
export function createOpenAiCompatibleAdapter(spec: OpenAiCompatibleSpec): ProviderAdapter {
  const capabilities: Capabilities = { ...ALL_CAPABILITIES, ...spec.capabilities };
  return {
    id: spec.id,
    errorWire: 'openai',
    capabilities,
    prepare: prepareOpenAi,
    preparePassthrough: prepareOpenAiPassthrough,
    ...(spec.realtime === true ? { prepareRealtime: prepareOpenAiRealtime } : {}),
    prepareJob: prepareOpenAiJob,
    prepareRaw: (input) => rawSecret(input, 'authorization'),
    transformResponse: transformOpenAi,
    createStreamTranslator(options: StreamOptions): StreamTranslator {
      return new OpenAiStreamTranslator(options);
    },
    parseError(_status: number, text: string): UpstreamErrorInfo {
      return parseOpenAiWireError(text);
    },
  };
}
