/**
 * Per-request state, created once by the handler and threaded through the pipeline. It carries
 * what the access log, metrics and response headers need, so a terminal path only has to fill
 * fields; the one completion hook (`finishRequest`) reads them when the response closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConfigSnapshot, Resource } from '@aisix/core';
import type { Usage } from '@aisix/providers';
import type { GuardrailEvaluation, RequestTrace } from '../tracing/tracer.js';
import type { AttemptRecord, UsageContent, UsageEvent } from '../usage/records.js';
import type { Scope } from './scopes.js';

/** Bounded endpoint label: a route path of `routes.ts`; anything unrouted is `other`. */
export type EndpointLabel =
  | '/v1/chat/completions'
  | '/v1/completions'
  | '/v1/embeddings'
  | '/v1/messages'
  | '/v1/messages/count_tokens'
  | '/v1/responses'
  | '/v1/rerank'
  | '/v1/images/generations'
  | '/v1/audio/speech'
  | '/v1/audio/transcriptions'
  | '/v1/audio/translations'
  | '/v1/models'
  | '/livez'
  | '/readyz'
  | '/mcp'
  | '/mcp/:server'
  | '/v1/videos'
  | '/v1/videos/:id'
  | '/a2a'
  | '/a2a/:agent/.well-known/agent-card.json'
  | '/v1/realtime'
  | '/v1/files'
  | '/v1/files/:id'
  | '/v1/batches'
  | '/v1/batches/:id'
  | '/v1/fine_tuning/jobs'
  | '/v1/fine_tuning/jobs/:id'
  | '/passthrough/:provider/*rest'
  | 'other';

/**
 * What a route carries. The model kinds (`chat` ... `audio`) go through the model pipeline;
 * interceptors key on the kind (which answers can be cached, how tokens are counted).
 */
export type RouteKind =
  | 'chat'
  | 'completions'
  | 'embeddings'
  | 'messages'
  | 'count_tokens'
  | 'responses'
  | 'rerank'
  | 'images'
  | 'audio'
  | 'models'
  | 'health'
  | 'mcp'
  | 'videos'
  | 'a2a'
  | 'a2a_card'
  | 'realtime'
  | 'jobs'
  | 'passthrough';

export type { InboundProtocol } from '../usage/records.js';

/** A route's facts (`routes.ts` adds how it runs). */
export interface RouteFacts {
  /** `ANY`: the route answers every method itself (MCP: 405 after its own checks). */
  readonly method: 'GET' | 'POST' | 'ANY';
  readonly kind: RouteKind;
  /** Error envelope of the route's callers (data-plane §7.1-7.2). */
  readonly envelope: 'openai' | 'anthropic';
}

export interface RequestContext {
  readonly id: string;
  /** `performance.now()` at arrival. */
  readonly startedAt: number;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly path: string;
  readonly endpoint: EndpointLabel;
  /** The matched route (undefined: unrouted path, answered 404). */
  readonly route: RouteFacts | undefined;
  /** Read once at the start; every later step uses this snapshot. */
  readonly snapshot: ConfigSnapshot;
  apiKey: Resource<'api_keys'> | undefined;
  /** Model name as the caller sent it. */
  requestedModel: string | undefined;
  model: Resource<'models'> | undefined;
  provider: string | undefined;
  upstreamModel: string | undefined;
  stream: boolean;
  usage: Usage | undefined;
  /** `usage` holds locally estimated counters (`usage/estimate.ts`). */
  usageEstimated: boolean;
  /**
   * A streaming ensemble's panel usage (agents-and-jobs §8.1 step 7): added to the judge's
   * `usage` when the request completes, so the one commit, the access log and the metrics count
   * panel + judge whenever the judge's stream ends.
   */
  ensemblePanelUsage?: Usage | undefined;
  /** The body sent upstream (after interceptors): the prompt side of token estimation. */
  body: Readonly<Record<string, unknown>> | undefined;
  /** The caller's JSON body text and the object it parsed to (adapters may forward the text). */
  rawBody: { readonly body: object; readonly text: string } | undefined;
  /** The JSON answer served (a reference, for token estimation when usage is missing). */
  outputJson: string | undefined;
  /** SSE text written to the caller, kept up to `MAX_STREAM_CHARS` (`sseChars`), then counted only. */
  sseOut: string[] | undefined;
  sseChars: number;
  sseDroppedChars: number;
  /** SSE text as output taps released it (masked), kept only for full-content exporters. */
  sseServed: string[] | undefined;
  /** Milliseconds spent in upstream attempts (the rest of the latency is the gateway's). */
  upstreamMs: number;
  /** `performance.now()` at the start of the attempt in progress; -1 when none (`usage/attempts.ts`). */
  attemptT0: number;
  /** The direct model of the latest attempt (the serving one at the end): cost, events. */
  targetModel: Resource<'models'> | undefined;
  /** One record per attempt, kept only while usage events are built. */
  attemptLog: AttemptRecord[] | undefined;
  /** The current attempt's upstream request id header (recorded only with `attemptLog`). */
  providerRequestId: string | undefined;
  /** Seconds from attempt start to the first generated output (streams). */
  ttftSeconds: number | undefined;
  /**
   * `performance.now()` when a stream's first generated output was written to the caller (later
   * than the upstream's when an output guardrail held it back): `downstream_latency_ms` (§6.4).
   */
  firstOutputAt: number | undefined;
  attempts: number;
  /** Attempts made on a later routing-group target after an earlier one failed. */
  fallbacks: number;
  errorType: string | undefined;
  errorMessage: string | undefined;
  /** 401s are counted, never access-logged (scanner noise). */
  skipAccessLog: boolean;
  /** Whether the completion hook publishes usage events (video polls and 501s do not). */
  usageEvents: boolean;
  /** Set when the gateway itself ended the exchange (so a close is not a client cancel). */
  settled: boolean;
  /** Called once if the client goes away before the response finished (aborts the upstream). */
  onClientGone: (() => void) | undefined;
  /** `x-aisix-served-by` for group traffic. */
  servedBy: string | undefined;
  /** An A2A call that passed the ACL and body checks (its usage event fields); else undefined. */
  a2a: A2aCall | undefined;
  /** An MCP `tools/call` (its usage event fields); undefined for every other request. */
  mcp: McpCall | undefined;
  /** `x-aisix-route`: the semantic route that matched (agents-and-jobs §8.2). */
  semanticRoute: string | undefined;
  /** What the guardrails did to this request, for its usage events (set on the first verdict). */
  guardrails: GuardrailUsage | undefined;
  /** What the response cache did (usage events, the trace); undefined when no policy applied. */
  cache: CacheUsage | undefined;
  /** The request's trace when tracing is on and the request is sampled (set by `run.ts`). */
  trace: RequestTrace | undefined;
  /** Scopes opened by interceptors (`lifecycle.ts`), in order; undefined when none. */
  scopes: Scope[] | undefined;
  /** The response has closed and the completion hook ran (`finish.ts`): no scope opens now. */
  closed: boolean;
  /** A routing attempt the scopes admitted and have not yet heard the end of (`scopes.ts`). */
  attemptOpen: boolean;
  /**
   * A WebSocket session's outcome (`realtime/`): set once its 101 is written, so the completion
   * hook records the session's status (200 / 400 / 502 / 504), not the upgrade's.
   */
  sessionStatus: number | undefined;
}

/** The A2A fields of a call's usage event (agents-and-jobs §3.8). */
export interface A2aCall {
  readonly agent: string;
  readonly method: string;
  /** The relayed stream ended with an error event (the event then reports 502). */
  faulted: boolean;
}

/** The MCP fields of a `tools/call` usage event (agents-and-jobs §2.7 step 1, §1.4). */
export interface McpCall {
  /** Attribution: empty when the aggregated name has no `server__` prefix. */
  readonly server: string;
  readonly tool: string;
  /** Duration of the upstream tool call; undefined when the upstream was not contacted. */
  upstreamMs: number | undefined;
}

/** The cache fields of a request's usage events (data-plane §10.4, §12.3). */
export interface CacheUsage {
  readonly policy: string;
  readonly status: 'miss' | 'hit' | 'bypass';
  /** Hits only. */
  readonly layer: 'exact' | 'semantic' | null;
  /** Semantic hits only: the similarity the header reports (4 decimals). */
  readonly similarity: number | null;
  /** Hits only: the stored answer's usage, which the hit saved. */
  readonly saved: { readonly prompt_tokens: number; readonly completion_tokens: number } | undefined;
  /** The lookup (key and read): `performance.now()` at its end, and how long it took. */
  readonly endedAt: number;
  readonly seconds: number;
}

/** The guardrail fields of a request's usage events (data-plane §12.3). */
export interface GuardrailUsage {
  blocked: boolean;
  /** The first bypass reason (a guardrail that could not evaluate and was let through). */
  bypassedReason: string | null;
  /** One entry per guardrail kind and hook (`input` / `output`) that evaluated. */
  readonly applied: { readonly kind: string; readonly hook: string }[];
  /** Masked spans per detector. */
  readonly redacted: Record<string, number>;
  /** Monitor-mode hits as `<guardrail>:<detector>:<would_block|would_mask>`, each once. */
  readonly monitorHits: string[];
  /** Every evaluation, in order (the `otlp_http` exporter's guardrail spans). */
  readonly evaluations: GuardrailEvaluation[];
}

export function newContext(
  id: string,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  endpoint: EndpointLabel,
  route: RouteFacts | undefined,
  snapshot: ConfigSnapshot,
): RequestContext {
  return {
    id,
    startedAt: performance.now(),
    req,
    res,
    path,
    endpoint,
    route,
    snapshot,
    apiKey: undefined,
    requestedModel: undefined,
    model: undefined,
    provider: undefined,
    upstreamModel: undefined,
    stream: false,
    usage: undefined,
    usageEstimated: false,
    ensemblePanelUsage: undefined,
    body: undefined,
    rawBody: undefined,
    outputJson: undefined,
    sseOut: undefined,
    sseChars: 0,
    sseDroppedChars: 0,
    sseServed: undefined,
    upstreamMs: 0,
    attemptT0: -1,
    targetModel: undefined,
    attemptLog: undefined,
    providerRequestId: undefined,
    ttftSeconds: undefined,
    firstOutputAt: undefined,
    attempts: 0,
    fallbacks: 0,
    errorType: undefined,
    errorMessage: undefined,
    skipAccessLog: false,
    usageEvents: true,
    settled: false,
    onClientGone: undefined,
    servedBy: undefined,
    mcp: undefined,
    semanticRoute: undefined,
    a2a: undefined,
    guardrails: undefined,
    cache: undefined,
    trace: undefined,
    scopes: undefined,
    attemptOpen: false,
    closed: false,
    sessionStatus: undefined,
  };
}

/**
 * What the per-request metrics read of a finished request, copied at its close: a batch of
 * finished requests waiting to be recorded then holds these few fields instead of whole request
 * contexts (request, response, bodies, scopes), which the young-generation collections would
 * otherwise copy again and again (measured with limits and the cache on: 103.5 -> 90.4 µs of CPU
 * per request under load, bench/README.md).
 */
export interface CompletedFacts {
  readonly endpoint: EndpointLabel;
  readonly kind: RouteKind | undefined;
  readonly snapshot: ConfigSnapshot;
  readonly apiKey: RequestContext['apiKey'];
  readonly model: RequestContext['model'];
  readonly targetModel: RequestContext['targetModel'];
  readonly requestedModel: string | undefined;
  readonly provider: string | undefined;
  readonly upstreamModel: string | undefined;
  readonly stream: boolean;
  readonly attempts: number;
  readonly fallbacks: number;
  readonly upstreamMs: number;
  readonly ttftSeconds: number | undefined;
  readonly usage: RequestContext['usage'];
  readonly userAgent: string | undefined;
}

export function completedFacts(ctx: RequestContext): CompletedFacts {
  return {
    endpoint: ctx.endpoint,
    kind: ctx.route?.kind,
    snapshot: ctx.snapshot,
    apiKey: ctx.apiKey,
    model: ctx.model,
    targetModel: ctx.targetModel,
    requestedModel: ctx.requestedModel,
    provider: ctx.provider,
    upstreamModel: ctx.upstreamModel,
    stream: ctx.stream,
    attempts: ctx.attempts,
    fallbacks: ctx.fallbacks,
    upstreamMs: ctx.upstreamMs,
    ttftSeconds: ctx.ttftSeconds,
    usage: ctx.usage,
    userAgent: ctx.req.headers['user-agent'],
  };
}

/** The usage events of a closed request, built at its close (`finish.ts`). */
export interface FinishedUsage {
  readonly events: readonly UsageEvent[];
  readonly content: UsageContent | undefined;
  readonly steps: RequestSteps | undefined;
}

/** What a request did besides its attempts, for exporters that render it as spans (OP-13). */
export interface RequestSteps {
  /** The status the caller got (an attempt's event carries the upstream's). */
  readonly status: number;
  /** The whole request, arrival to close (the request span). */
  readonly seconds: number;
  readonly cache: CacheUsage | undefined;
  readonly guardrails: readonly GuardrailEvaluation[];
}

/** A closed request whose metrics and usage events are not yet recorded (`finish.ts`). */
export interface FinishedRequest {
  /** The request id (for a log line if recording fails). */
  readonly id: string;
  readonly facts: CompletedFacts;
  /** Undefined: the request has no usage events. */
  readonly usage: FinishedUsage | undefined;
  readonly status: number;
  readonly seconds: number;
}
