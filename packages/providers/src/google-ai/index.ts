/**
 * Google AI Studio (the Generative Language API) on its native wire: vendor `provider: gemini`
 * with no `adapter` set. Chat → `<base>/models/<m>:generateContent` (streaming
 * `:streamGenerateContent?alt=sse`), embeddings → `:embedContent` / `:batchEmbedContents`;
 * credential header `x-goog-api-key`. Translation is the shared Gemini wire (../gemini/).
 *
 * Base URL: `https://generativelanguage.googleapis.com/v1beta` by default; an `api_base` that is
 * a bare origin gets `/v1beta`, one with a path is used as given (a proxy mount or `/v1`), and a
 * pasted `/models/...` tail is cut. An `api_base` ending in `/openai` is Google's OpenAI-compatible
 * endpoint: that works today with `adapter: openai` (the OpenAI family), so it is refused here
 * with that hint rather than producing a broken URL.
 */
import type {
  Endpoint,
  PreparedRequest,
  PrepareInput,
  PrepareResult,
  ProviderAdapter,
  StreamOptions,
  StreamTranslator,
  TransformResult,
  UpstreamErrorInfo,
} from '../contract.js';
import { CHAT_AND_EMBEDDINGS, refusal } from '../contract.js';
import {
  googleAiEmbeddingBody,
  readEmbeddingInput,
  transformGoogleEmbeddings,
} from '../gemini/embeddings.js';
import { parseGeminiError } from '../gemini/errors.js';
import { addDefaultFields, geminiChatBody, pipelineHeaders } from '../gemini/prepare.js';
import { transformGeminiChat } from '../gemini/response.js';
import { GeminiStreamTranslator } from '../gemini/stream.js';
import { upstreamSecret } from '../shared/credentials.js';
import { rawSecret } from '../shared/raw.js';

export const GOOGLE_AI_DEFAULT_BASE = 'https://generativelanguage.googleapis.com/v1beta';

const MODEL_ID = /^(tunedModels\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/;

type Result<T> = { ok: true; value: T } | { ok: false; message: string };

/** The versioned API root (no trailing `/`). */
export function googleAiBase(apiBase: string | null | undefined): Result<string> {
  let b = (apiBase ?? '').trim();
  while (b.endsWith('/')) b = b.slice(0, -1);
  if (b === '') return { ok: true, value: GOOGLE_AI_DEFAULT_BASE };
  const cut = b.indexOf('/models/');
  if (cut !== -1) b = b.slice(0, cut);
  let u: URL;
  try {
    u = new URL(b);
  } catch {
    return { ok: false, message: 'invalid upstream configuration: provider_key api_base is not a valid URL' };
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    return { ok: false, message: 'invalid upstream configuration: provider_key api_base must be http(s)' };
  }
  if (u.pathname.endsWith('/openai')) {
    return {
      ok: false,
      message:
        'invalid upstream configuration: api_base is the Gemini OpenAI-compatible endpoint; use adapter "openai" for it',
    };
  }
  if (u.pathname === '/' || u.pathname === '') return { ok: true, value: `${u.origin}/v1beta` };
  return { ok: true, value: b };
}

/** `gemini-2.0-flash`, `models/gemini-2.0-flash` or `tunedModels/x` → the resource name. */
export function googleAiModel(upstreamModel: string): Result<string> {
  const m = upstreamModel.startsWith('models/') ? upstreamModel.slice(7) : upstreamModel;
  if (!MODEL_ID.test(m)) {
    return {
      ok: false,
      message: 'invalid upstream configuration: model_name is not a valid Gemini model id',
    };
  }
  return { ok: true, value: m.startsWith('tunedModels/') ? m : `models/${m}` };
}

function prepare(input: PrepareInput): PrepareResult {
  const pk = input.providerKey;
  const base = googleAiBase(pk.api_base);
  if (!base.ok) return refusal('invalid_config', base.message);
  const model = googleAiModel(input.upstreamModel);
  if (!model.ok) return refusal('invalid_config', model.message);
  const secret = upstreamSecret(pk);
  if (!secret.ok) return refusal('invalid_credentials', secret.message);
  const headers = pipelineHeaders(input, { 'x-goog-api-key': secret.value });
  if (input.endpoint === 'embeddings') {
    const e = readEmbeddingInput(input.body);
    if (!e.ok) return refusal('invalid_config', e.message);
    const { method, body } = googleAiEmbeddingBody(model.value, e);
    addDefaultFields(body, pk);
    const encoding = input.body.encoding_format === 'base64' ? 'base64' : 'float';
    const request: PreparedRequest = {
      url: new URL(`${base.value}/${model.value}:${method}`),
      headers,
      body: JSON.stringify(body),
      meta: { encoding },
    };
    return { ok: true, request };
  }
  const body = geminiChatBody(input);
  if (!body.ok) return refusal('invalid_config', body.message);
  const action = input.stream ? 'streamGenerateContent?alt=sse' : 'generateContent';
  return {
    ok: true,
    request: { url: new URL(`${base.value}/${model.value}:${action}`), headers, body: body.body },
  };
}

export const googleAiAdapter: ProviderAdapter = {
  id: 'google-ai',
  errorWire: 'vertex',
  capabilities: CHAT_AND_EMBEDDINGS,
  prepare,
  prepareRaw: (input) => rawSecret(input, 'x-goog-api-key'),
  transformResponse(
    endpoint: Endpoint,
    text: string,
    alias: string,
    request?: PreparedRequest,
  ): TransformResult {
    if (endpoint === 'embeddings') return transformGoogleEmbeddings(text, alias, request?.meta?.encoding);
    return transformGeminiChat(text, alias);
  },
  createStreamTranslator(options: StreamOptions): StreamTranslator {
    return new GeminiStreamTranslator(options);
  },
  parseError(_status: number, text: string): UpstreamErrorInfo {
    return parseGeminiError(text);
  },
};
