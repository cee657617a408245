/**
 * Google Vertex AI (`adapter: vertex`, providers.md §5). One ProviderKey serves every publisher
 * on Vertex; the upstream model id picks the wire (route.ts): Gemini (shared ../gemini/ wire),
 * Claude (the Anthropic translators from ../anthropic/, body without `model`, with
 * `anthropic_version: "vertex-2023-10-16"`), or the OpenAI-compatible shim / partner rawPredict
 * (the OpenAI-family body and relay).
 *
 * `prepare` records the chosen wire in `PreparedRequest.meta.wire`, which is how
 * `transformResponse` and the stream translator (handed the prepared request) pick the matching
 * decoder. Credentials (credentials.ts): a static `access_token` is set in `prepare`; a service
 * account is turned into a Bearer token in `authorize` (token.ts), the async hook the gateway runs
 * before each attempt.
 *
 * Errors are Google-shaped (`{error:{code,message,status}}`, status → code per data-plane §7.4);
 * Claude's rawPredict may answer Anthropic-shaped errors, which are recognised too.
 */
import {
  createAnthropicStreamTranslator,
  toAnthropicRequest,
  transformAnthropicText,
} from '../anthropic/index.js';
import type {
  AuthorizeContext,
  Endpoint,
  PreparedRequest,
  PrepareInput,
  PrepareResult,
  ProviderAdapter,
  RawInput,
  RawResult,
  StreamOptions,
  StreamTranslator,
  TransformResult,
  UpstreamErrorInfo,
} from '../contract.js';
import { CHAT_AND_EMBEDDINGS, refusal } from '../contract.js';
import { readEmbeddingInput, transformGoogleEmbeddings, vertexEmbeddingBody } from '../gemini/embeddings.js';
import { parseGeminiError } from '../gemini/errors.js';
import { addDefaultFields, geminiChatBody, overriddenSource, pipelineHeaders } from '../gemini/prepare.js';
import { transformGeminiChat } from '../gemini/response.js';
import { GeminiStreamTranslator } from '../gemini/stream.js';
import { buildOpenAiBody } from '../shared/body.js';
import { parseAnthropicWireError } from '../shared/errors.js';
import { createOpenAiCompatibleAdapter } from '../shared/openai-base.js';
import { rawWith } from '../shared/raw.js';
import { parseVertexCredential } from './credentials.js';
import { vertexOrigin, vertexRoute } from './route.js';
import { TokenMinter } from './token.js';

export { parseVertexCredential, type ServiceAccount, type VertexCredential } from './credentials.js';
export { type VertexRoute, vertexOrigin, vertexRoute } from './route.js';
export { signAssertion, TokenMinter } from './token.js';

export const VERTEX_ANTHROPIC_VERSION = 'vertex-2023-10-16';

/** The OpenAI-family relay, reused for the shim's responses and streams. */
const openAiWire = createOpenAiCompatibleAdapter({ id: 'vertex-openai' });

function prepare(input: PrepareInput): PrepareResult {
  const pk = input.providerKey;
  const c = parseVertexCredential(pk.api_key ?? pk.secret);
  if (!c.ok) return refusal('invalid_credentials', c.message);
  const { project, region } = c.credential;
  const origin = vertexOrigin(pk.api_base, region);
  if (!origin.ok) return refusal('invalid_config', origin.message);
  const r = vertexRoute(origin.origin, project, region, input.upstreamModel, input.stream);
  if (!r.ok) return refusal('invalid_config', r.message);
  const route = r.route;
  const credential: Record<string, string> =
    'accessToken' in c.credential ? { authorization: `Bearer ${c.credential.accessToken}` } : {};
  const headers = pipelineHeaders(input, credential);
  const done = (url: string, body: string, meta: Record<string, string>): PrepareResult => ({
    ok: true,
    request: { url: new URL(url), headers, body, meta },
  });

  if (input.endpoint === 'embeddings') {
    if (!route.predictUrl)
      return refusal('not_implemented', 'this provider does not support embeddings for this model');
    const e = readEmbeddingInput(input.body);
    if (!e.ok) return refusal('invalid_config', e.message);
    const body = vertexEmbeddingBody(e);
    addDefaultFields(body, pk);
    const encoding = input.body.encoding_format === 'base64' ? 'base64' : 'float';
    return done(route.predictUrl, JSON.stringify(body), { wire: 'embeddings', encoding });
  }
  if (input.endpoint !== 'chat')
    return refusal('not_implemented', 'this provider does not support completions');
  switch (route.wire) {
    case 'gemini': {
      const body = geminiChatBody(input);
      if (!body.ok) return refusal('invalid_config', body.message);
      return done(route.chatUrl, body.body, { wire: 'gemini' });
    }
    case 'anthropic': {
      const t = toAnthropicRequest(overriddenSource(input.body, pk), undefined, {
        stream: input.stream,
        autoPromptCaching: input.autoPromptCaching,
      });
      if (!t.ok) return refusal('invalid_config', t.message);
      const body: Record<string, unknown> = { anthropic_version: VERTEX_ANTHROPIC_VERSION, ...t.body };
      delete body.model;
      addDefaultFields(body, pk);
      return done(route.chatUrl, JSON.stringify(body), { wire: 'anthropic' });
    }
    case 'openai': {
      const body = buildOpenAiBody(
        'chat',
        input.body,
        route.openAiModel ?? input.upstreamModel,
        input.stream,
        pk,
      );
      return done(route.chatUrl, JSON.stringify(body), { wire: 'openai' });
    }
  }
}

/** Raw tunnel: the credential's regional host (or `api_base`); a service account mints in `authorize`. */
function prepareRaw(input: RawInput): RawResult {
  const c = parseVertexCredential(input.providerKey.api_key ?? input.providerKey.secret);
  if (!c.ok) return refusal('invalid_credentials', c.message);
  const origin = vertexOrigin(input.providerKey.api_base, c.credential.region);
  if (!origin.ok) return refusal('invalid_config', origin.message);
  if ('accessToken' in c.credential)
    return rawWith(input, { authorization: `Bearer ${c.credential.accessToken}` }, origin.origin);
  const r = rawWith(input, {}, origin.origin);
  return r.ok ? { ...r, authorize: true } : r;
}

/** One minter per adapter instance: tokens are cached per service account across requests. */
export function createVertexAdapter(minter: TokenMinter = new TokenMinter()): ProviderAdapter & {
  readonly minter: TokenMinter;
} {
  return {
    id: 'vertex',
    errorWire: 'vertex',
    capabilities: CHAT_AND_EMBEDDINGS,
    minter,
    prepare,
    prepareRaw,
    async authorize(request: PreparedRequest, ctx: AuthorizeContext): Promise<PrepareResult> {
      const c = parseVertexCredential(ctx.providerKey.api_key ?? ctx.providerKey.secret);
      if (!c.ok) return refusal('invalid_credentials', c.message);
      if (!('serviceAccount' in c.credential)) return { ok: true, request };
      const t = await minter.token(c.credential.serviceAccount, ctx.http, ctx.now);
      if (!t.ok) return refusal('invalid_credentials', t.message);
      return {
        ok: true,
        request: { ...request, headers: { ...request.headers, authorization: `Bearer ${t.token}` } },
      };
    },
    transformResponse(
      endpoint: Endpoint,
      text: string,
      alias: string,
      request?: PreparedRequest,
    ): TransformResult {
      switch (request?.meta?.wire) {
        case 'embeddings':
          return transformGoogleEmbeddings(text, alias, request.meta.encoding);
        case 'anthropic':
          return transformAnthropicText(text, alias, Math.floor(Date.now() / 1000));
        case 'openai':
          return openAiWire.transformResponse(endpoint, text, alias);
        default:
          return transformGeminiChat(text, alias);
      }
    },
    createStreamTranslator(options: StreamOptions): StreamTranslator {
      switch (options.request?.meta?.wire) {
        case 'anthropic':
          return createAnthropicStreamTranslator(options);
        case 'openai':
          return openAiWire.createStreamTranslator(options);
        default:
          return new GeminiStreamTranslator(options);
      }
    },
    parseError(_status: number, text: string): UpstreamErrorInfo {
      const g = parseGeminiError(text);
      if (g.kind !== undefined) return g;
      const a = parseAnthropicWireError(text);
      return a.kind !== undefined ? a : g;
    },
  };
}

export const vertexAdapter: ProviderAdapter = createVertexAdapter();
