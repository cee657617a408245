/**
 * The proxy's error catalogue (data-plane §7.3): every caller-facing failure is built here, so
 * each condition has exactly one status, `type`, `code` and message. Rendering into the OpenAI
 * envelope (or the Anthropic one under `/v1/messages`) is `renderError`.
 *
 * Messages never carry secrets, CIDRs, upstream hosts or raw caller input beyond the model name
 * the catalogue quotes.
 */
import type { AdapterError, UpstreamErrorInfo } from '@aisix/providers';

export class GatewayError {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly message: string,
    readonly code?: string,
    readonly param?: string,
    /** Extra response headers (e.g. `Retry-After`). */
    readonly headers?: Readonly<Record<string, string>>,
    /** The rate-limit policy that refused (OpenAI envelope `error.policy`). */
    readonly policy?: { readonly id: string; readonly name: string },
  ) {}
}

const invalid = (message: string) => new GatewayError(400, 'invalid_request_error', message);

/**
 * 501: what the target cannot do. The OpenAI and Anthropic SDKs retry every 5xx (twice, backing
 * off) unless the answer says `x-should-retry: false`, which they honour: a retry cannot help.
 */
const NO_RETRY: Readonly<Record<string, string>> = { 'x-should-retry': 'false' };
export const notImplemented = (message: string) =>
  new GatewayError(501, 'not_implemented', message, undefined, undefined, NO_RETRY);

/** 502: an upstream answer too large for the gateway to hold; the same call would fail again. */
export const answerTooLarge = (message: string) =>
  new GatewayError(502, 'upstream_error', message, undefined, undefined, NO_RETRY);

const KIND_PHRASE = {
  routing: 'a routing group',
  ensemble: 'an ensemble model',
  semantic: 'a semantic model',
} as const;

export const errors = {
  notFound: () => new GatewayError(404, 'not_found', 'the requested resource does not exist'),
  /** Never sent (nobody is left to read it): what logs, events and spans record (§1.3, §6.6). */
  clientDisconnected: () => new GatewayError(499, 'client_disconnected', 'client closed the connection'),
  /** `allow`: the methods the route takes (default: the route table's method). */
  methodNotAllowed: (allow?: string) =>
    new GatewayError(
      405,
      'method_not_allowed',
      'method not allowed for this route',
      undefined,
      undefined,
      allow !== undefined ? { allow } : undefined,
    ),
  /** `/passthrough/:provider`: no model of that provider exists (the name only when well-formed). */
  passthroughProviderNotFound: (provider: string) =>
    new GatewayError(404, 'not_found', `no model is configured for provider ${JSON.stringify(provider)}`),
  /** A path segment whose percent-encoding is not UTF-8 (`%ff`): data-plane §13 item 12. */
  malformedPathParam: (raw: string) =>
    invalid(`malformed path parameter ${JSON.stringify(raw.length > 256 ? raw.slice(0, 256) : raw)}`),
  passthroughProviderNotAllowed: (provider: string) =>
    new GatewayError(
      403,
      'permission_denied',
      `API key is not allowed to use any model of provider ${JSON.stringify(provider)}`,
    ),

  missingCredentials: () =>
    new GatewayError(401, 'invalid_api_key', 'missing or malformed Authorization header'),
  unknownKey: () => new GatewayError(401, 'invalid_api_key', 'invalid API key'),
  keyDisabled: () =>
    new GatewayError(401, 'invalid_api_key', 'API key has been disabled', 'api_key_disabled'),
  keyExpired: () => new GatewayError(401, 'invalid_api_key', 'API key has expired', 'api_key_expired'),
  jwtInvalid: () => new GatewayError(401, 'invalid_api_key', 'invalid JWT', 'jwt_invalid'),
  jwtExpired: () => new GatewayError(401, 'invalid_api_key', 'JWT has expired', 'jwt_expired'),
  jwtIdentityUnmapped: () =>
    new GatewayError(
      401,
      'invalid_api_key',
      'no API key is bound to this JWT identity',
      'jwt_identity_unmapped',
    ),
  jwtClaimsRejected: () =>
    new GatewayError(
      403,
      'permission_denied',
      'JWT does not satisfy the required scopes or claims',
      'jwt_claims_rejected',
    ),
  jwksUnavailable: () =>
    new GatewayError(
      503,
      'api_error',
      "unable to fetch the identity provider's signing keys",
      'jwks_unavailable',
    ),

  invalidBody: (detail = 'invalid JSON request body') => invalid(`request payload is invalid: ${detail}`),
  /**
   * A body the gateway cannot take, saying which field and why after the reference's text
   * (`request payload is invalid: invalid JSON request body: <what>`; docs/decisions.md).
   * `what` names fields and expected types only, never the caller's values.
   */
  badBody: (what: string) => invalid(`request payload is invalid: invalid JSON request body: ${what}`),
  conflictingContentLength: () => invalid('request payload is invalid: conflicting Content-Length headers'),
  bodyTooLarge: (limit: number) =>
    new GatewayError(413, 'invalid_request_error', `request body exceeds ${limit}-byte limit`),
  bodyReadFailed: () => invalid('failed to read request body'),
  /** Slow-loris: the connection is closed after the answer, so the socket is freed at once. */
  bodyTimeout: () =>
    new GatewayError(
      408,
      'invalid_request_error',
      'timed out reading the request body',
      undefined,
      undefined,
      {
        connection: 'close',
      },
    ),
  headersTooLarge: () => new GatewayError(431, 'invalid_request_error', 'request headers are too large'),

  modelNotFound: (name: string) =>
    new GatewayError(404, 'model_not_found', `model ${JSON.stringify(name)} not found`),
  modelNotAllowed: (name: string) =>
    new GatewayError(403, 'permission_denied', `API key is not allowed to use model ${JSON.stringify(name)}`),
  ipRestricted: () =>
    new GatewayError(
      403,
      'permission_denied',
      'Access denied: your client IP is not allowed to access this model',
      'ip_restricted',
    ),
  unknownProviderKey: (alias: string, id: string) =>
    invalid(
      `request payload is invalid: model ${JSON.stringify(alias)} references unknown provider_key_id ${JSON.stringify(id)}`,
    ),
  allCandidatesUnavailable: () =>
    new GatewayError(
      503,
      'all_candidates_unavailable',
      'all routing candidates are unavailable',
      undefined,
      undefined,
      { 'retry-after': '30' },
    ),
  providerUnavailable: () =>
    new GatewayError(503, 'provider_unavailable', 'no bridge registered for provider'),
  configError: (detail: string) =>
    new GatewayError(500, 'config_error', `bridge is misconfigured: ${detail}`),

  /** Upstream 4xx passthrough: same status, gateway type, code derived per wire. */
  upstream4xx: (status: number, info: UpstreamErrorInfo, retryAfter: string | undefined) =>
    new GatewayError(
      status,
      'upstream_error',
      info.message,
      info.code,
      info.param,
      retryAfter !== undefined && status === 429 ? { 'retry-after': retryAfter } : undefined,
    ),
  upstream5xx: (status: number) => new GatewayError(502, 'upstream_error', `upstream returned ${status}`),
  timeout: (ms: number) => new GatewayError(504, 'timeout', `upstream request timed out after ${ms}ms`),
  /** Generic on purpose (decision OP-14): the cause, host included, goes to the log only. */
  transport: () => new GatewayError(502, 'transport_error', 'transport error: could not reach the upstream'),
  decode: (detail: string) => new GatewayError(502, 'upstream_decode_error', detail),
  /** The upstream connection dropped mid-stream. */
  streamDropped: () =>
    new GatewayError(502, 'transport_error', 'upstream connection closed before the stream completed'),
  /** The upstream answered 2xx and ended its stream without a single event (a stream aborted). */
  streamEmpty: () => new GatewayError(502, 'transport_error', 'upstream stream ended before its first chunk'),
  /**
   * An in-band upstream error without a 4xx status: 502 with the upstream's message, and its
   * code and param as an upstream 4xx would carry them (data-plane §6.2, §7.3).
   */
  inBandUpstream: (info: UpstreamErrorInfo) =>
    new GatewayError(502, 'upstream_error', info.message, info.code, info.param),

  fromAdapter: (e: AdapterError) => {
    switch (e.kind) {
      case 'invalid_config':
        return invalid(e.message);
      case 'invalid_credentials':
        return new GatewayError(401, 'authentication_error', e.message);
      case 'not_implemented':
        return notImplemented(e.message);
    }
  },

  /** A guardrail block: names the guardrail, never what matched (data-plane §11.4). */
  guardrailBlocked: (phase: 'request' | 'response', guardrail: string) =>
    new GatewayError(422, 'content_filter', `${phase} blocked by content policy (guardrail '${guardrail}')`),

  internal: () => new GatewayError(500, 'api_error', 'internal gateway error'),

  /** `/v1/realtime` without a usable WebSocket handshake (agents-and-jobs §7.1 step 1). */
  websocketUpgradeRequired: (status: 400 | 405 | 426, detail: string) =>
    new GatewayError(
      status,
      'websocket_upgrade_required',
      `this endpoint requires a WebSocket upgrade: ${detail}`,
      undefined,
      undefined,
      status === 405 ? { allow: 'GET, HEAD' } : status === 426 ? { upgrade: 'websocket' } : undefined,
    ),
  missingModelParam: () => invalid('missing required query parameter `model`'),
  realtimeNeedsDirectModel: (name: string, kind: 'routing' | 'ensemble' | 'semantic' = 'routing') =>
    invalid(`model ${JSON.stringify(name)} is ${KIND_PHRASE[kind]}; realtime sessions need a direct model`),
  realtimeUnsupported: (name: string) =>
    invalid(`model ${JSON.stringify(name)} is served by a provider without a realtime API`),
  /** Step 8 configuration faults: always 400 on this surface (the messages name no secret). */
  realtimeConfig: (message: string) => invalid(message),

  /**
   * A rate-limit refusal (data-plane §9.3, §7.3): no Retry-After for concurrency; a policy's
   * refusal names it in the message and in `error.policy`.
   */
  rateLimited: (
    reason: 'requests' | 'tokens' | 'concurrency',
    retryAfterSecs: number | undefined,
    policy: { readonly id: string; readonly name: string } | undefined,
  ) => {
    const base =
      reason === 'concurrency'
        ? 'concurrency limit exceeded'
        : reason === 'tokens'
          ? 'token limit exceeded (tokens)'
          : 'request limit exceeded (requests)';
    const message = policy ? `${base} (policy '${policy.name}')` : base;
    const headers = retryAfterSecs !== undefined ? { 'retry-after': String(retryAfterSecs) } : undefined;
    return new GatewayError(429, 'rate_limit_exceeded', message, undefined, undefined, headers, policy);
  },
};

/** Integer-seconds `Retry-After` only; the HTTP-date form is ignored. */
export function retryAfterSeconds(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s !== undefined && /^\s*\d+\s*$/.test(s) ? s.trim() : undefined;
}

const ANTHROPIC_TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  408: 'timeout_error',
  413: 'request_too_large',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
  503: 'overloaded_error',
};

/** Serializes the envelope: OpenAI shape, or Anthropic's for `/v1/messages` routes. */
export function renderError(e: GatewayError, anthropic: boolean): string {
  if (anthropic) {
    return JSON.stringify({
      type: 'error',
      error: { type: ANTHROPIC_TYPES[e.status] ?? 'api_error', message: e.message },
    });
  }
  const body: {
    message: string;
    type: string;
    code?: string;
    param?: string;
    policy?: { id: string; name: string };
  } = { message: e.message, type: e.type };
  if (e.code !== undefined) body.code = e.code;
  if (e.param !== undefined) body.param = e.param;
  if (e.policy !== undefined) body.policy = { id: e.policy.id, name: e.policy.name };
  return JSON.stringify({ error: body });
}
