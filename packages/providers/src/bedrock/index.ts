/**
 * AWS Bedrock (`adapter: bedrock`, providers.md §7).
 *
 * Routing per call (config.ts detects the publisher, ignoring cross-region prefixes):
 * - chat, Anthropic model, non-streaming → `/model/<id>/invoke` with an Anthropic Messages body
 *   (invoke-anthropic.ts, reusing the Anthropic adapter's translators);
 * - every other chat call, and all streaming → Converse `/model/<id>/converse` /
 *   ConverseStream `/model/<id>/converse-stream` (converse-*.ts; the stream is the binary AWS
 *   event stream, event-stream.ts);
 * - embeddings for Titan / Cohere embed models → `invoke` (embeddings.ts). Completions: 501.
 *
 * Signing: SigV4 (service `bedrock`) happens in `authorize`, per attempt, because it needs the
 * final body and the clock (`ctx.now`); a retry after backoff is re-signed. `prepare` validates
 * the credential JSON so a broken key still fails fast (401) without I/O.
 *
 * Overrides: `param_renames` and the temperature clamp apply to the caller's OpenAI body before
 * translation; `default_body_fields` are merged onto the Bedrock body (that is how an operator
 * adds `additionalModelRequestFields`, `guardrailConfig`, `performanceConfig`, ...); on `invoke`
 * those Converse fields take InvokeModel's form (`mergeDefaults`).
 * `content_list_to_string` does not apply (Converse has no string content).
 */
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
  UpstreamHeaders,
} from '../contract.js';
import { applyBodyOverrides } from '../shared/body.js';
import { applyDefaultHeaders, forwardClientHeaders } from '../shared/headers.js';
import { rawWith } from '../shared/raw.js';
import { bedrockConfig, embeddingFamily, modelUrl, publisherOf } from './config.js';
import { toConverseRequest } from './converse-request.js';
import { transformConverseText } from './converse-response.js';
import { ConverseStreamTranslator } from './converse-stream.js';
import { toEmbeddingRequest, transformEmbeddings } from './embeddings.js';
import { parseBedrockError } from './errors.js';
import { toBedrockAnthropicBody, transformBedrockAnthropic } from './invoke-anthropic.js';
import { signRequest } from './sigv4.js';

export {
  EventStreamDecoder,
  encodeBedrockEvent,
  encodeBedrockException,
  encodeEventStreamMessage,
} from './event-stream.js';

import { CHAT_AND_EMBEDDINGS, refusal } from '../contract.js';

export { type AwsCredentials, type SignInput, signRequest } from './sigv4.js';

export const BEDROCK_SERVICE = 'bedrock';

type Mode = 'converse' | 'anthropic' | 'embeddings';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function refuse(message: string): PrepareResult {
  // A request Bedrock cannot express (remote image URL, several Titan inputs, ...) is the
  // caller's to fix: 400 invalid_request_error.
  return refusal('invalid_config', message);
}

function prepare(input: PrepareInput): PrepareResult {
  const pk = input.providerKey;
  const cfg = bedrockConfig(pk);
  if (!cfg.ok) return { ok: false, error: { kind: cfg.kind, message: cfg.message } };
  const model = input.upstreamModel;
  if (model === '') return refuse('invalid upstream configuration: bedrock model_name is empty');

  // Renames and the clamp act on the caller's vocabulary; default fields on Bedrock's (below).
  const source: Obj = { ...input.body };
  if (pk.request) {
    applyBodyOverrides(source, {
      request: { param_renames: pk.request.param_renames, param_constraints: pk.request.param_constraints },
    });
  }

  let mode: Mode;
  let url: URL;
  let body: Obj;
  const meta: Record<string, string> = {};
  if (input.endpoint === 'embeddings') {
    const family = embeddingFamily(model);
    if (!family) {
      return refuse(
        `request payload is invalid: ${JSON.stringify(model)} is not a bedrock embedding model (amazon.titan-embed*, cohere.embed*)`,
      );
    }
    const r = toEmbeddingRequest(family, source);
    if (!r.ok) return refuse(r.message);
    mode = 'embeddings';
    url = modelUrl(cfg.config.origin, model, 'invoke');
    body = r.body;
    if (typeof source.encoding_format === 'string') meta.encoding = source.encoding_format;
  } else if (input.endpoint === 'chat' && !input.stream && publisherOf(model) === 'anthropic') {
    const r = toBedrockAnthropicBody(source);
    if (!r.ok) return refuse(r.message);
    mode = 'anthropic';
    url = modelUrl(cfg.config.origin, model, 'invoke');
    body = r.body;
  } else if (input.endpoint === 'chat') {
    const r = toConverseRequest(source);
    if (!r.ok) return refuse(r.message);
    mode = 'converse';
    url = modelUrl(cfg.config.origin, model, input.stream ? 'converse-stream' : 'converse');
    body = r.body;
  } else {
    return {
      ok: false,
      error: { kind: 'not_implemented', message: 'this provider does not support completions' },
    };
  }
  meta.mode = mode;
  const invokeHeaders = mergeDefaults(body, pk.request?.default_body_fields, mode);

  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: input.stream ? 'application/vnd.amazon.eventstream' : 'application/json',
    'x-aisix-request-id': input.requestId,
    'user-agent': input.userAgent,
  };
  applyDefaultHeaders(headers, pk.request?.default_headers, input.templateVars);
  forwardClientHeaders(headers, pk.request?.forward_client_headers, input);
  dropAmzHeaders(headers);
  Object.assign(headers, invokeHeaders);
  return { ok: true, request: { url, headers, body: JSON.stringify(body), meta } };
}

/** Top-level fields of the Converse API; an InvokeModel body (the vendor's own) refuses them. */
const CONVERSE_FIELDS = new Set([
  'messages',
  'system',
  'inferenceConfig',
  'toolConfig',
  'guardrailConfig',
  'additionalModelRequestFields',
  'additionalModelResponseFieldPaths',
  'performanceConfig',
  'promptVariables',
  'requestMetadata',
]);

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Merges the ProviderKey's `default_body_fields` (fields the body lacks). They are written for
 * Converse (docs/providers/bedrock.md), so on `invoke` they take InvokeModel's form instead of
 * being refused by Bedrock as extraneous keys: `additionalModelRequestFields` are the model's
 * native body fields (merged into the Claude body), `guardrailConfig` and `performanceConfig`
 * are InvokeModel headers, other Converse fields do not apply. Embedding bodies take only
 * non-Converse fields. Returns the headers to add.
 */
function mergeDefaults(body: Obj, defaults: unknown, mode: Mode): Record<string, string> {
  const headers: Record<string, string> = {};
  if (!isObj(defaults)) return headers;
  const add = (k: string, v: unknown) => {
    if (!Object.hasOwn(body, k)) body[k] = v;
  };
  for (const [k, v] of Object.entries(defaults)) {
    if (mode === 'converse' || !CONVERSE_FIELDS.has(k)) add(k, v);
    else if (mode === 'anthropic' && k === 'additionalModelRequestFields' && isObj(v)) {
      for (const [field, value] of Object.entries(v)) if (!CONVERSE_FIELDS.has(field)) add(field, value);
    } else if (mode === 'anthropic' && k === 'guardrailConfig' && isObj(v)) {
      const id = str(v.guardrailIdentifier);
      const version = str(v.guardrailVersion);
      const trace = str(v.trace);
      if (id) headers['x-amzn-bedrock-guardrailidentifier'] = id;
      if (version) headers['x-amzn-bedrock-guardrailversion'] = version;
      if (trace) headers['x-amzn-bedrock-trace'] = trace.toUpperCase();
    } else if (mode === 'anthropic' && k === 'performanceConfig' && isObj(v)) {
      const latency = str(v.latency);
      if (latency) headers['x-amzn-bedrock-performanceconfig-latency'] = latency;
    }
  }
  return headers;
}

/**
 * Every `x-amz-*` header is AWS's (docs/providers/bedrock.md): one from an operator template, a
 * forwarded caller header or a caller's own SDK signature would be signed along and change what
 * Bedrock does (`x-amz-target`) or break the gateway's signature.
 */
function dropAmzHeaders(headers: Record<string, string>): void {
  for (const name of Object.keys(headers)) if (name.startsWith('x-amz-')) delete headers[name];
}

async function authorize(request: PreparedRequest, ctx: AuthorizeContext): Promise<PrepareResult> {
  const cfg = bedrockConfig(ctx.providerKey);
  if (!cfg.ok) return { ok: false, error: { kind: cfg.kind, message: cfg.message } };
  const sig = signRequest({
    method: 'POST',
    url: request.url,
    headers: request.headers,
    body: request.body,
    credentials: cfg.config.credentials,
    region: cfg.config.region,
    service: BEDROCK_SERVICE,
    now: ctx.now,
    signedHeaders: ['content-type'],
  });
  return { ok: true, request: { ...request, headers: { ...request.headers, ...sig.headers } } };
}

/**
 * Raw tunnel: the credential's regional host (or `api_base`), SigV4 over the caller's method and
 * bytes. The caller's own `x-amz-*` headers (an AWS SDK's signature parts) are dropped.
 */
function prepareRaw(input: RawInput): RawResult {
  const cfg = bedrockConfig(input.providerKey);
  if (!cfg.ok) return { ok: false, error: { kind: cfg.kind, message: cfg.message } };
  const r = rawWith(input, {}, cfg.config.origin);
  if (!r.ok) return r;
  dropAmzHeaders(r.headers);
  const sig = signRequest({
    method: input.method,
    url: r.url,
    headers: r.headers,
    body: input.body,
    credentials: cfg.config.credentials,
    region: cfg.config.region,
    service: BEDROCK_SERVICE,
    now: input.now,
    signedHeaders: r.headers['content-type'] !== undefined ? ['content-type'] : [],
  });
  Object.assign(r.headers, sig.headers);
  return r;
}

function transformResponse(
  endpoint: Endpoint,
  text: string,
  alias: string,
  request?: PreparedRequest,
): TransformResult {
  const now = Math.floor(Date.now() / 1000);
  if (endpoint === 'embeddings') return transformEmbeddings(text, alias, request?.meta?.encoding);
  const mode = request?.meta?.mode;
  // Without the prepared request (older call sites) the body shape tells the two apart.
  const anthropic = mode ? mode === 'anthropic' : /"type"\s*:\s*"message"/.test(text.slice(0, 512));
  return anthropic ? transformBedrockAnthropic(text, alias, now) : transformConverseText(text, alias, now);
}

export const bedrockAdapter: ProviderAdapter = {
  id: 'bedrock',
  errorWire: 'bedrock',
  capabilities: CHAT_AND_EMBEDDINGS,
  prepare,
  prepareRaw,
  authorize,
  transformResponse,
  createStreamTranslator(options: StreamOptions): StreamTranslator {
    return new ConverseStreamTranslator(options);
  },
  parseError(status: number, text: string, headers?: UpstreamHeaders): UpstreamErrorInfo {
    return parseBedrockError(status, text, headers);
  },
};
