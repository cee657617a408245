/**
 * The provider adapter seam: what the gateway asks of an upstream family, and nothing more.
 *
 * An adapter turns a caller's (already parsed, already authorized) OpenAI-shaped body into one
 * upstream HTTP call (URL, headers, body), and turns the upstream answer back into what the
 * caller sees: a JSON body plus usage, an SSE translator, or a parsed upstream error. Adapters do
 * no I/O themselves: the gateway owns sockets, timers, retries and envelopes (packages/gateway-node).
 *
 * "Not supported" is decided here, in `checkCapability`, so every endpoint answers the same 501.
 *
 * The resource views below restate only the fields adapters read (control-plane.md resource
 * tables); they are structural so core's full resource types are assignable to them.
 */

/** Upstream capabilities an adapter may have. A missing one is answered 501 by the gateway. */
export interface Capabilities {
  readonly chat: boolean;
  readonly chatStream: boolean;
  readonly completions: boolean;
  readonly completionsStream: boolean;
  readonly embeddings: boolean;
  /**
   * Passthrough endpoints need `ProviderAdapter.preparePassthrough`; a flag set to false refuses
   * one of them for an adapter that has the hook (absent = served).
   */
  readonly rerank?: boolean;
  readonly imagesGenerations?: boolean;
  readonly audio?: boolean;
}

/** Chat (streamed or not) and embeddings, no legacy completions: the native non-OpenAI wires. */
export const CHAT_AND_EMBEDDINGS: Capabilities = {
  chat: true,
  chatStream: true,
  completions: false,
  completionsStream: false,
  embeddings: true,
};

export type Endpoint = 'chat' | 'completions' | 'embeddings';

/**
 * Extended single-model endpoints forwarded nearly verbatim (only `model` rewritten): the
 * adapter builds URL and headers (and the JSON body); response bytes pass through untouched.
 * Audio transcriptions/translations are multipart: the gateway forwards the caller's bytes.
 */
export type PassthroughEndpoint =
  | 'rerank'
  | 'images_generations'
  | 'audio_speech'
  | 'audio_transcriptions'
  | 'audio_translations';

/** Wire family of upstream error bodies (providers.md §8). */
export type ErrorWire = 'openai' | 'anthropic' | 'azure' | 'vertex' | 'bedrock' | 'raw';

export interface ProviderKeyRequestOverrides {
  readonly param_renames?: Readonly<Record<string, string>> | null;
  readonly param_constraints?: {
    readonly temperature_min?: number | null;
    readonly temperature_max?: number | null;
  } | null;
  readonly default_headers?: Readonly<Record<string, string>> | null;
  readonly forward_client_headers?: readonly string[] | null;
  readonly default_body_fields?: Readonly<Record<string, unknown>> | null;
}

export interface ProviderKeyResponseOverrides {
  readonly stream_done_marker?: string | null;
  readonly content_list_to_string?: boolean | null;
  readonly reasoning_field?: string | null;
}

/** The ProviderKey fields adapters read. */
export interface ProviderKeyView {
  readonly display_name?: string;
  readonly api_key?: string;
  /** Accepted alias of `api_key` on read. */
  readonly secret?: string;
  readonly api_base?: string | null;
  readonly provider?: string | null;
  readonly adapter?: string | null;
  readonly request?: ProviderKeyRequestOverrides | null;
  readonly response?: ProviderKeyResponseOverrides | null;
}

/** Values the `default_headers` templates may reference (closed set, data-plane §5.5). */
export interface TemplateVars {
  readonly 'request.id': string;
  readonly 'request.api_key.id'?: string | undefined;
  readonly 'request.api_key.name'?: string | undefined;
  readonly 'request.api_key.team_id'?: string | undefined;
  readonly 'request.api_key.user_id'?: string | undefined;
  readonly 'model.id'?: string | undefined;
  readonly 'model.name'?: string | undefined;
  readonly 'provider_key.id'?: string | undefined;
  readonly 'provider_key.name'?: string | undefined;
}

export type InboundHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** Response headers of an upstream call, lower-case names. */
export type UpstreamHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** The caller's request headers, as the header pipeline reads them. */
export interface ClientHeaders {
  readonly inboundHeaders: InboundHeaders;
  /**
   * The first value of a repeated inbound header (`inboundHeaders` joins repeats with ", "):
   * what `forward_client_headers` forwards (data-plane §5.5). Absent: the joined value.
   */
  readonly inboundFirst?: ((name: string) => string | undefined) | undefined;
}

export interface PrepareInput extends ClientHeaders {
  readonly endpoint: Endpoint;
  readonly stream: boolean;
  /** The caller's parsed body. Adapters never mutate it (retries re-prepare from it). */
  readonly body: Readonly<Record<string, unknown>>;
  /**
   * The text `body` was parsed from, as the caller sent it, with the object it parsed to. Valid
   * only while `raw.body === body` (an adapter that hands a translated body on keeps this field
   * but not the identity): then an OpenAI-wire body that needs no change but `stream` is sent as
   * this text instead of being serialized again.
   */
  readonly raw?: { readonly body: object; readonly text: string } | undefined;
  /** Upstream model id (Model.model_name, wildcard-substituted). */
  readonly upstreamModel: string;
  readonly providerKey: ProviderKeyView;
  readonly requestId: string;
  readonly templateVars: TemplateVars;
  /** Gateway-owned outbound `User-Agent`. */
  readonly userAgent: string;
  /** Model `auto_prompt_caching` (read by the Anthropic-wire adapters only). */
  readonly autoPromptCaching?: { readonly enabled: boolean; readonly ttl?: '5m' | '1h' } | undefined;
}

/** One upstream HTTP call, ready for the transport. */
export interface PreparedRequest {
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body: string;
  /**
   * Adapter-private notes from `prepare` for `transformResponse` (e.g. the caller's embeddings
   * `encoding_format` when the upstream wire cannot carry it). Never sent upstream.
   */
  readonly meta?: Readonly<Record<string, string>>;
}

/**
 * A refusal decided before any I/O. `kind` maps to exactly one status/type in the gateway's
 * error table: invalid_config 400 invalid_request_error, invalid_credentials 401
 * authentication_error, not_implemented 501 not_implemented.
 */
export interface AdapterError {
  readonly kind: 'invalid_config' | 'invalid_credentials' | 'not_implemented';
  readonly message: string;
}

export type PrepareResult =
  | { readonly ok: true; readonly request: PreparedRequest }
  | { readonly ok: false; readonly error: AdapterError };

/** Usage counters (providers.md §0). Missing upstream counters are 0. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_prompt_tokens: number;
  reasoning_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
}

/** A parsed upstream error (HTTP error body or in-band stream error), strings ≤ 1024 bytes. */
export interface UpstreamErrorInfo {
  readonly message: string;
  /** Upstream's own error kind (`error.type`, Google `status`, exception name...). */
  readonly kind?: string;
  /** Caller-facing code derived per wire (data-plane §7.4). */
  readonly code?: string;
  readonly param?: string;
  /** Embedded HTTP status of an in-band error (400..599), when the upstream said one. */
  readonly status?: number;
}

export type TransformResult =
  | {
      readonly ok: true;
      readonly body: string;
      readonly usage: Usage;
      /**
       * What `JSON.parse(body)` would return, when the adapter parsed it anyway (a fresh object:
       * the receiver may keep or change it). Lets the next reader (a guardrail's output scan, a
       * dialect bridge) skip a second parse of the same answer.
       */
      readonly value?: object;
    }
  | {
      readonly ok: false;
      readonly message: string;
      /**
       * The 2xx body was the upstream's error object (`{"error": {...}}`), read as an in-band
       * error (data-plane §6.2): the gateway answers it like one, not as an undecodable body.
       */
      readonly error?: UpstreamErrorInfo;
    };

export interface StreamOptions {
  readonly endpoint: Endpoint;
  /** The name the caller sent; re-stamped as `model` on every chunk. */
  readonly alias: string;
  /** Forward the usage-only terminal chunk (the caller asked with `stream_options.include_usage`). */
  readonly forwardUsageChunk: boolean;
  /** The prepared request of this attempt (its `meta`), for adapters whose stream wire depends on it. */
  readonly request?: PreparedRequest;
}

export type StreamFailure =
  | { readonly kind: 'in_band'; readonly error: UpstreamErrorInfo }
  | { readonly kind: 'decode'; readonly message: string };

/**
 * Incremental upstream-SSE → caller-SSE translator, one per stream. `push` returns the bytes to
 * write now ('' when nothing is complete yet); after `failure` is set or `done` is true the
 * gateway stops pushing.
 */
export interface StreamTranslator {
  push(chunk: Buffer): string;
  /** Upstream EOF: flushes a final event that had no trailing blank line. */
  end(): string;
  /** `[DONE]` (or the family's terminal event) was seen and forwarded. */
  readonly done: boolean;
  readonly failure: StreamFailure | undefined;
  /** Max-so-far usage across chunks. */
  readonly usage: Usage;
  /** True once a chunk carried generated output (content, reasoning or tool calls). */
  readonly sawOutput: boolean;
  /** Number of events forwarded to the caller. */
  readonly delivered: number;
  /**
   * The wire's own terminal event said the response failed (Responses `response.failed`): it was
   * relayed as is and `done` is set, but the attempt failed after commit with this error.
   */
  readonly endedInError?: UpstreamErrorInfo | undefined;
  /**
   * The frame that ends a committed stream after a failure, in the caller's dialect (Anthropic
   * `event: error`, Responses `error`). Absent: the gateway writes the OpenAI chat error frame.
   */
  errorFrame?(message: string, type: string): string;
}

/** Minimal HTTP client handed to adapters that must do I/O (token minting). */
export interface AdapterHttpClient {
  request(
    url: string,
    init: { method: string; headers: Record<string, string>; body?: string; timeoutMs?: number },
  ): Promise<{ status: number; headers: Record<string, string>; body: string }>;
}

/**
 * What `authorize` may use. `now` is epoch milliseconds (injected so token caches are testable).
 * The client rejects on transport failure; `authorize` lets that rejection through and the gateway
 * treats it as a transport failure of the attempt (502, retryable). A credential the upstream's
 * token service refuses is an `ok: false` `invalid_credentials` result (401, like `prepare`).
 */
export interface AuthorizeContext {
  readonly providerKey: ProviderKeyView;
  readonly http: AdapterHttpClient;
  readonly now: number;
}

export interface ProviderAdapter {
  /** Adapter id for logs/tests (never shown to callers). */
  readonly id: string;
  readonly errorWire: ErrorWire;
  readonly capabilities: Capabilities;
  prepare(input: PrepareInput): PrepareResult;
  /**
   * Optional async step after `prepare` and before each upstream attempt: adds credentials that
   * need I/O (OAuth token minting). Adapters that have it must keep their own bounded caches.
   */
  authorize?(request: PreparedRequest, ctx: AuthorizeContext): Promise<PrepareResult>;
  /** Turns a 2xx non-streaming upstream body into the caller body (`alias` = requested name). */
  transformResponse(
    endpoint: Endpoint,
    text: string,
    alias: string,
    request?: PreparedRequest,
  ): TransformResult;
  createStreamTranslator(options: StreamOptions): StreamTranslator;
  /**
   * Parses an upstream error body (≤ 64 KiB, any content type). `headers` (lower-case names) are
   * passed when the wire names its error kind in a header (Bedrock `x-amzn-errortype`).
   */
  parseError(status: number, text: string, headers?: UpstreamHeaders): UpstreamErrorInfo;
  /**
   * Optional: one upstream call for a passthrough endpoint (see `PassthroughInput`). Adapters
   * without it answer those endpoints 501 through `checkPassthrough`.
   */
  preparePassthrough?(input: PassthroughInput): PrepareResult;
  /**
   * Optional: the upstream WebSocket handshake of a realtime session (agents-and-jobs §7.3).
   * Adapters without it cannot serve `/v1/realtime` (the gateway answers 400 before the 101).
   */
  prepareRealtime?(input: RealtimeInput): RealtimeResult;
  /**
   * Optional: one call of the files / batches / fine-tuning job APIs (see `JobInput`). Adapters
   * without it refuse those routes (400 through `prepareJobCall`).
   */
  prepareJob?(input: JobInput): PrepareResult;
  /** Optional: URL and credentials of a raw `/passthrough/:provider/*` call (`raw.ts`). */
  prepareRaw?(input: RawInput): RawResult;
}

/** A raw tunnel call: the caller's method, path, headers and bytes, sent with the key's credential. */
export interface RawInput {
  readonly providerKey: ProviderKeyView;
  /** `:provider` of the path, lower-case (selects a built-in default base). */
  readonly provider: string;
  readonly method: string;
  /** Path after `/passthrough/<provider>/`, as received (still percent-encoded). */
  readonly rest: string;
  /** Query string with its `?`, or ''. */
  readonly query: string;
  /** Caller headers to forward: the gateway already dropped hop-by-hop, stripped and own ones. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly requestId: string;
  /** Epoch ms (signing time). */
  readonly now: number;
}

/** `authorize: true`: run the adapter's `authorize` for its credential header (token minting). */
export type RawResult =
  | {
      readonly ok: true;
      readonly url: URL;
      readonly headers: Record<string, string>;
      readonly authorize?: true;
    }
  | { readonly ok: false; readonly error: AdapterError };

/**
 * One call of the OpenAI job APIs (`/files`, `/batches`, `/fine_tuning/jobs`). The gateway has
 * already chosen the route, guarded every id it splices into `path` and built the body; the
 * adapter only decides URL, credentials and the header pipeline. `PreparedRequest.body` stays
 * empty: the gateway sends its own (a rewritten JSON body or a streamed multipart body).
 */
export interface JobInput extends ClientHeaders {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** Path under the API root, e.g. `/files`, `/batches/<raw id>/cancel`. */
  readonly path: string;
  /** Query string to forward, without `?` ('' = none). */
  readonly query: string;
  /** Content type of the body the gateway sends ('' = no body). */
  readonly contentType: string;
  readonly providerKey: ProviderKeyView;
  readonly requestId: string;
  readonly templateVars: TemplateVars;
  readonly userAgent: string;
}

/** The one refusal for adapters without job APIs (Anthropic, Vertex, Bedrock, Gemini native). */
export function prepareJobCall(adapter: ProviderAdapter, input: JobInput): PrepareResult {
  if (!adapter.prepareJob) {
    return refusal(
      'invalid_config',
      'files, batches and fine-tuning jobs need a provider key with adapter openai or azure-openai',
    );
  }
  return adapter.prepareJob(input);
}

/** What `prepareRealtime` gets. */
export interface RealtimeInput {
  readonly providerKey: ProviderKeyView;
  readonly upstreamModel: string;
  /** For `default_headers` templates (the header pipeline, decision OP-3). */
  readonly templateVars: TemplateVars;
  readonly userAgent: string;
}

/** An upstream WebSocket handshake: `ws:`/`wss:` URL and the gateway-owned headers. */
export interface RealtimeRequest {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
}

export type RealtimeResult =
  | { readonly ok: true; readonly request: RealtimeRequest }
  | { readonly ok: false; readonly error: AdapterError };

/**
 * What `preparePassthrough` gets: the `PrepareInput` fields minus streaming. For JSON endpoints
 * the adapter serialises `body` with `model` = `upstreamModel`; for multipart endpoints
 * (`audio_transcriptions`, `audio_translations`) `PreparedRequest.body` stays empty and the
 * gateway sends the caller's multipart bytes (model part rewritten) with the caller's
 * `content-type`, which the adapter copies into the outbound headers.
 */
export interface PassthroughInput extends Omit<PrepareInput, 'endpoint' | 'stream' | 'autoPromptCaching'> {
  readonly endpoint: PassthroughEndpoint;
}

export const PASSTHROUGH_ENDPOINTS: ReadonlySet<string> = new Set<PassthroughEndpoint>([
  'rerank',
  'images_generations',
  'audio_speech',
  'audio_transcriptions',
  'audio_translations',
]);

export function isPassthroughEndpoint(e: string): e is PassthroughEndpoint {
  return PASSTHROUGH_ENDPOINTS.has(e);
}

/** Multipart endpoints: the body is the caller's bytes, never a JSON object. */
export function isMultipartEndpoint(e: PassthroughEndpoint): boolean {
  return e === 'audio_transcriptions' || e === 'audio_translations';
}

const PASSTHROUGH_LABEL: Record<PassthroughEndpoint, string> = {
  rerank: 'rerank',
  images_generations: 'image generations',
  audio_speech: 'audio speech',
  audio_transcriptions: 'audio transcriptions',
  audio_translations: 'audio translations',
};

/** `checkCapability` for passthrough endpoints: the one 501 decision for them. */
export function checkPassthrough(
  adapter: ProviderAdapter,
  endpoint: PassthroughEndpoint,
): AdapterError | undefined {
  const c = adapter.capabilities;
  const flag =
    endpoint === 'rerank' ? c.rerank : endpoint === 'images_generations' ? c.imagesGenerations : c.audio;
  if (adapter.preparePassthrough && flag !== false) return undefined;
  return {
    kind: 'not_implemented',
    message: `this provider does not support ${PASSTHROUGH_LABEL[endpoint]}`,
  };
}

/** `checkPassthrough`, then the adapter's `preparePassthrough`. */
export function preparePassthrough(adapter: ProviderAdapter, input: PassthroughInput): PrepareResult {
  const refusal = checkPassthrough(adapter, input.endpoint);
  if (refusal || !adapter.preparePassthrough) {
    return { ok: false, error: refusal ?? { kind: 'not_implemented', message: 'not supported' } };
  }
  return adapter.preparePassthrough(input);
}

const CAPABILITY_LABEL: Record<Endpoint, string> = {
  chat: 'chat completions',
  completions: 'completions',
  embeddings: 'embeddings',
};

/**
 * The one place that decides whether an adapter can serve a call. Returns undefined when it can,
 * else the 501 refusal (`this provider does not support ...`).
 */
export function checkCapability(
  adapter: ProviderAdapter,
  endpoint: Endpoint,
  stream: boolean,
): AdapterError | undefined {
  const c = adapter.capabilities;
  let ok: boolean;
  switch (endpoint) {
    case 'chat':
      ok = stream ? c.chatStream : c.chat;
      break;
    case 'completions':
      ok = stream ? c.completionsStream : c.completions;
      break;
    case 'embeddings':
      ok = c.embeddings;
      break;
  }
  if (ok) return undefined;
  const what = stream ? `streaming ${CAPABILITY_LABEL[endpoint]}` : CAPABILITY_LABEL[endpoint];
  return { kind: 'not_implemented', message: `this provider does not support ${what}` };
}

/** The `prepare` result that refuses a call before any I/O (see AdapterError for the statuses). */
export function refusal(kind: AdapterError['kind'], message: string): Extract<PrepareResult, { ok: false }> {
  return { ok: false, error: { kind, message } };
}

export function emptyUsage(): Usage {
  return {
    prompt_tokens: 0,
    completion_tokens: 0,
    total_tokens: 0,
    cached_prompt_tokens: 0,
    reasoning_tokens: 0,
    cache_creation_tokens: 0,
    cache_read_tokens: 0,
  };
}
