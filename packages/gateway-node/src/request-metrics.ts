/**
 * The per-request families of the proxy metrics (data-plane §12.2): request counters and latency
 * histograms (OP-12: latency is a histogram, never a summary), token, spend and TTFT series, and
 * tokens by client type. A part of `Metrics` (`metrics.ts`), registered on its registry.
 *
 * Hot path: a finished request costs one key concat and one Map lookup. Its label combination
 * picks a cached `RequestSeries` that holds direct references to every cell it touches; cells
 * are plain numbers and bucket arrays bumped in place. Labels stay bounded: route templates
 * (`other` for anything unrouted), configured model aliases (`unresolved` for a model the caller
 * named that does not resolve, `unknown` for none), configured provider keys and caller keys
 * (ids and the key's team/user fields, never a caller-supplied string). The one label a caller
 * can steer, `upstream_model` behind a wildcard model, keeps at most
 * `MAX_UPSTREAM_MODELS_PER_MODEL` values per model alias (`other` beyond).
 */
import { type ClientClassifier, createClientClassifier } from './client-type.js';
import type { Settings } from './config.js';
import {
  type CounterCell,
  CounterFamily,
  type Family,
  type HistogramCell,
  HistogramFamily,
  type Labels,
} from './metric-families.js';
import type { CompletedFacts, EndpointLabel, InboundProtocol, RouteKind } from './pipeline/context.js';
import { modelView } from './resources.js';
import { costUsd } from './usage/events.js';

export function statusClass(status: number): string {
  if (status >= 200 && status < 600) return `${Math.floor(status / 100)}xx`;
  return 'other';
}

function outcome(status: number): string {
  if (status >= 200 && status < 400) return 'success';
  if (status === 429) return 'rate_limited';
  if (status >= 400 && status < 500) return 'client_error';
  return 'upstream_error';
}

/** `inbound_protocol` of an endpoint: the caller's wire dialect. */
export function inboundProtocol(endpoint: EndpointLabel): InboundProtocol {
  if (endpoint === '/a2a' || endpoint === '/a2a/:agent/.well-known/agent-card.json') return 'a2a';
  if (endpoint === '/mcp' || endpoint === '/mcp/:server') return 'mcp';
  if (endpoint === '/v1/realtime') return 'realtime';
  return endpoint === '/v1/messages' || endpoint === '/v1/messages/count_tokens' ? 'anthropic' : 'openai';
}

/** Endpoints of the `aisix_llm_*` request series. */
const LLM_KINDS: ReadonlySet<RouteKind> = new Set([
  'chat',
  'completions',
  'messages',
  'responses',
  'embeddings',
]);

/** Gateway overhead is usually sub-millisecond to a few ms: finer edges than the e2e set. */
const OVERHEAD_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/**
 * Distinct `upstream_model` values one model alias keeps (a wildcard model derives the value from
 * the caller's name); further names are counted under `OVERFLOW`.
 */
export const MAX_UPSTREAM_MODELS_PER_MODEL = 100;
/** Longer `upstream_model` values are counted under `OVERFLOW` without taking a slot. */
export const MAX_UPSTREAM_LABEL_CHARS = 256;
/** The label value of what a bound left out. */
const OVERFLOW = 'other';

/** Cap on cached label combinations; past it the cache is cleared (cells themselves stay). */
const MAX_SERIES_CACHE = 10_000;

interface TokenCells {
  readonly input: CounterCell;
  readonly output: CounterCell;
  readonly total: CounterCell;
  readonly consumed: CounterCell;
  readonly spend: CounterCell;
}

interface ClientTokenCells {
  readonly input: CounterCell;
  readonly output: CounterCell;
  readonly total: CounterCell;
}

/**
 * Every cell one finished request touches, resolved once per label combination. TTFT and token
 * cells are created on first use, so a series shows up in the scrape only once it has a value.
 */
interface RequestSeries {
  readonly requests: CounterCell;
  readonly duration: HistogramCell;
  readonly proxy: CounterCell;
  readonly failed: CounterCell | undefined;
  readonly proxyDuration: HistogramCell;
  readonly llm: CounterCell | undefined;
  readonly llmDuration: HistogramCell | undefined;
  readonly cancelled: CounterCell | undefined;
  readonly e2e: HistogramCell;
  readonly upstream: HistogramCell;
  readonly overhead: HistogramCell;
  ttft: HistogramCell | undefined;
  llmTtft: HistogramCell | undefined;
  tokens: TokenCells | undefined;
  readonly latKey: string;
  readonly latLabels: () => Labels;
  /** Key and labels of the token series (the caller-and-target dimensions). */
  readonly wideKey: string;
  readonly wideLabels: () => Labels;
  readonly provider: string;
  readonly model: string;
}

/** The label values of a finished request. */
interface Dims {
  readonly endpoint: EndpointLabel;
  readonly protocol: string;
  readonly provider: string;
  readonly model: string;
  readonly upstream: string;
  readonly pkId: string;
  readonly pkName: string;
  readonly keyId: string;
  readonly team: string;
  readonly userId: string;
  readonly userName: string;
}

/**
 * The `upstream_model` values each model alias has shown, for the bound of
 * `MAX_UPSTREAM_MODELS_PER_MODEL`. Values are never forgotten: a name keeps the label it got
 * first, so a series never moves between its own value and `other`.
 */
class UpstreamLabels {
  private readonly byModel = new Map<string, Set<string>>();

  label(model: string, upstream: string): string {
    if (upstream.length > MAX_UPSTREAM_LABEL_CHARS) return OVERFLOW;
    let seen = this.byModel.get(model);
    if (seen === undefined) {
      seen = new Set();
      this.byModel.set(model, seen);
    }
    if (seen.has(upstream)) return upstream;
    if (seen.size >= MAX_UPSTREAM_MODELS_PER_MODEL) return OVERFLOW;
    seen.add(upstream);
    return upstream;
  }
}

function dims(f: CompletedFacts, upstreams: UpstreamLabels): Dims {
  // The configured alias (a wildcard's pattern, not the caller's string) keeps labels bounded.
  // MCP has no model: its label is `mcp` (agents-and-jobs §1.4).
  const model = f.model
    ? modelView(f.model).display_name
    : f.kind === 'mcp'
      ? 'mcp'
      : f.requestedModel
        ? 'unresolved'
        : 'unknown';
  const target = f.targetModel ?? f.model;
  const pkId = target?.value.provider_key_id ?? 'unknown';
  const pk = pkId === 'unknown' ? undefined : f.snapshot.byId('provider_keys').get(pkId);
  const key = f.apiKey?.value;
  return {
    endpoint: f.endpoint,
    protocol: inboundProtocol(f.endpoint),
    provider: f.provider ?? 'unknown',
    model,
    upstream: f.upstreamModel === undefined ? 'unknown' : upstreams.label(model, f.upstreamModel),
    pkId,
    pkName: pk?.value.display_name || 'unknown',
    keyId: f.apiKey?.id ?? 'unknown',
    team: key?.team_id ?? 'unknown',
    userId: key?.user_id ?? 'unknown',
    userName: key?.user_name || 'unknown',
  };
}

/**
 * Whether `b` has the label values of the request `a.facts` was: the same inputs of `dims` (the
 * resources by identity, within the same snapshot) and the same stream, fallback and status.
 */
function sameSeries(
  a: { readonly facts: CompletedFacts; readonly status: number },
  b: CompletedFacts,
  status: number,
): boolean {
  const f = a.facts;
  return (
    a.status === status &&
    f.endpoint === b.endpoint &&
    f.kind === b.kind &&
    f.snapshot === b.snapshot &&
    f.apiKey === b.apiKey &&
    f.model === b.model &&
    f.targetModel === b.targetModel &&
    f.provider === b.provider &&
    f.upstreamModel === b.upstreamModel &&
    f.stream === b.stream &&
    f.fallbacks > 0 === b.fallbacks > 0 &&
    // Only whether one was named reaches a label (`unresolved` / `unknown`) when no model resolved.
    (f.requestedModel === undefined || f.requestedModel === '') ===
      (b.requestedModel === undefined || b.requestedModel === '')
  );
}

export class RequestMetrics {
  private readonly series = new Map<string, RequestSeries>();
  private readonly upstreams = new UpstreamLabels();
  /**
   * The series the previous request used: consecutive requests mostly share every label, and
   * comparing the few inputs of `dims` is much cheaper than building and hashing the label key.
   */
  private last:
    | { readonly facts: CompletedFacts; readonly status: number; readonly series: RequestSeries }
    | undefined;
  private readonly requests = new CounterFamily(
    'aisix_requests_total',
    'Proxy requests by provider, model, status and outcome.',
  );
  private readonly duration: HistogramFamily;
  private readonly proxyRequests = new CounterFamily('aisix_proxy_requests_total', 'Proxy requests.');
  private readonly proxyFailed = new CounterFamily(
    'aisix_proxy_failed_requests_total',
    'Failed proxy requests.',
  );
  private readonly proxyDuration: HistogramFamily;
  private readonly llmRequests = new CounterFamily('aisix_llm_requests_total', 'Requests to LLM endpoints.');
  private readonly llmDuration: HistogramFamily;
  private readonly e2e: HistogramFamily;
  private readonly ttft: HistogramFamily;
  private readonly llmTtft: HistogramFamily;
  private readonly upstream: HistogramFamily;
  private readonly overhead: HistogramFamily;
  private readonly tokens = {
    input: new CounterFamily('aisix_llm_input_tokens_total', 'Prompt tokens.'),
    output: new CounterFamily('aisix_llm_output_tokens_total', 'Completion tokens.'),
    total: new CounterFamily('aisix_llm_total_tokens_total', 'Total tokens.'),
    consumed: new CounterFamily('aisix_tokens_consumed_total', 'Tokens consumed.'),
    spend: new CounterFamily(
      'aisix_llm_spend_micro_usd_total',
      "Spend in millionths of a USD, from the serving model's cost and the tokens.",
    ),
  };
  private readonly tokensByClient = new CounterFamily(
    'aisix_llm_tokens_by_client_total',
    'Tokens by client type (classified User-Agent), model and token type.',
  );
  private readonly clientCells = new Map<string, ClientTokenCells>();
  private readonly classifyClient: ClientClassifier;
  private readonly cancelled = new CounterFamily(
    'aisix_proxy_client_cancelled_requests_total',
    'Requests whose client went away before the response completed.',
  );
  private readonly envId: string;

  constructor(s: Settings) {
    this.envId = s.envId || 'unknown';
    this.classifyClient = createClientClassifier(s.clientTypeRules);
    const e2e = [...s.e2eBuckets];
    const ttft = [...s.ttftBuckets];
    this.duration = new HistogramFamily('aisix_request_duration_seconds', 'Proxy request duration.', e2e);
    this.proxyDuration = new HistogramFamily(
      'aisix_proxy_request_duration_seconds',
      'Proxy request duration.',
      e2e,
    );
    this.llmDuration = new HistogramFamily(
      'aisix_llm_request_duration_seconds',
      'LLM request duration.',
      e2e,
    );
    this.e2e = new HistogramFamily('aisix_request_e2e_latency_seconds', 'End-to-end request latency.', e2e);
    this.ttft = new HistogramFamily(
      'aisix_request_ttft_seconds',
      'Time to first token of streaming requests.',
      ttft,
    );
    this.llmTtft = new HistogramFamily(
      'aisix_llm_time_to_first_token_seconds',
      'Time to first token of streaming LLM requests, by caller and target.',
      ttft,
    );
    this.upstream = new HistogramFamily(
      'aisix_request_upstream_latency_seconds',
      'Time a request spent in upstream attempts (all attempts, streams to their end).',
      e2e,
    );
    this.overhead = new HistogramFamily(
      'aisix_request_gateway_overhead_seconds',
      'End-to-end latency minus upstream time: what the gateway itself added.',
      OVERHEAD_BUCKETS,
    );
  }

  /** In exposition order. */
  families(): Family[] {
    return [
      this.requests,
      this.duration,
      this.proxyRequests,
      this.proxyFailed,
      this.proxyDuration,
      this.llmRequests,
      this.llmDuration,
      this.e2e,
      this.ttft,
      this.llmTtft,
      this.upstream,
      this.overhead,
      this.tokens.input,
      this.tokens.output,
      this.tokens.total,
      this.tokens.consumed,
      this.tokens.spend,
      this.tokensByClient,
      this.cancelled,
    ];
  }

  completed(f: CompletedFacts, status: number, seconds: number): void {
    const last = this.last;
    const s = last !== undefined && sameSeries(last, f, status) ? last.series : this.seriesOf(f, status);
    s.requests.value++;
    s.proxy.value++;
    if (s.failed) s.failed.value++;
    if (s.llm) s.llm.value++;
    if (s.cancelled) s.cancelled.value++;
    this.duration.observe(s.duration, seconds);
    this.proxyDuration.observe(s.proxyDuration, seconds);
    if (s.llmDuration) this.llmDuration.observe(s.llmDuration, seconds);
    this.e2e.observe(s.e2e, seconds);
    if (f.attempts > 0) {
      const up = f.upstreamMs / 1000;
      this.upstream.observe(s.upstream, up);
      this.overhead.observe(s.overhead, Math.max(seconds - up, 0));
    } else this.overhead.observe(s.overhead, seconds);
    if (f.stream && f.ttftSeconds !== undefined && f.ttftSeconds > 0) {
      s.ttft ??= this.ttft.cell(s.latKey, s.latLabels);
      this.ttft.observe(s.ttft, f.ttftSeconds);
      s.llmTtft ??= this.llmTtft.cell(s.wideKey, s.wideLabels);
      this.llmTtft.observe(s.llmTtft, f.ttftSeconds);
    }
    const u = f.usage;
    if (u && u.total_tokens + u.prompt_tokens + u.completion_tokens > 0) {
      s.tokens ??= this.tokenCells(s);
      const t = s.tokens;
      t.input.value += u.prompt_tokens;
      t.output.value += u.completion_tokens;
      t.total.value += u.total_tokens;
      t.consumed.value += u.total_tokens;
      const usd = costUsd(f.targetModel ?? f.model, u);
      if (usd !== null) t.spend.value += Math.round(usd * 1e6);
      const c = this.clientTokenCells(this.classifyClient(f.userAgent), s.model);
      c.input.value += u.prompt_tokens;
      c.output.value += u.completion_tokens;
      c.total.value += u.total_tokens;
    }
  }

  /** The series of a request's label combination (the label key built and looked up). */
  private seriesOf(f: CompletedFacts, status: number): RequestSeries {
    const d = dims(f, this.upstreams);
    const stream = f.stream ? 'true' : 'false';
    const fallback = f.fallbacks > 0 ? 'true' : 'false';
    const wideKey = `${d.endpoint}\u0001${d.protocol}\u0001${d.provider}\u0001${d.model}\u0001${d.upstream}\u0001${d.pkId}\u0001${d.pkName}\u0001${d.keyId}\u0001${d.team}\u0001${d.userId}\u0001${d.userName}`;
    const key = `${wideKey}\u0001${stream}\u0001${fallback}\u0001${status}`;
    let s = this.series.get(key);
    if (s === undefined) {
      if (this.series.size >= MAX_SERIES_CACHE) this.series.clear();
      s = this.newSeries(key, wideKey, d, stream, fallback, status, f.kind);
      this.series.set(key, s);
    }
    this.last = { facts: f, status, series: s };
    return s;
  }

  private clientTokenCells(client: string, model: string): ClientTokenCells {
    const key = `${client}\u0001${model}`;
    let c = this.clientCells.get(key);
    if (c === undefined) {
      if (this.clientCells.size >= MAX_SERIES_CACHE) this.clientCells.clear();
      const f = this.tokensByClient;
      const cell = (token_type: string) =>
        f.cell(`${key}\u0001${token_type}`, () => ({ client_type: client, model, token_type }));
      c = { input: cell('input'), output: cell('output'), total: cell('total') };
      this.clientCells.set(key, c);
    }
    return c;
  }

  private tokenCells(s: RequestSeries): TokenCells {
    const { provider, model } = s;
    return {
      input: this.tokens.input.cell(s.wideKey, s.wideLabels),
      output: this.tokens.output.cell(s.wideKey, s.wideLabels),
      total: this.tokens.total.cell(s.wideKey, s.wideLabels),
      consumed: this.tokens.consumed.cell(`${provider}\u0001${model}`, () => ({ provider, model })),
      spend: this.tokens.spend.cell(s.wideKey, s.wideLabels),
    };
  }

  private newSeries(
    key: string,
    wideKey: string,
    d: Dims,
    stream: string,
    fallback: string,
    status: number,
    kind: RouteKind | undefined,
  ): RequestSeries {
    const st = String(status);
    const out = outcome(status);
    const wideLabels = (): Labels => ({
      endpoint: d.endpoint,
      inbound_protocol: d.protocol,
      provider: d.provider,
      model: d.model,
      upstream_model: d.upstream,
      provider_key_id: d.pkId,
      provider_key_name: d.pkName,
      api_key_id: d.keyId,
      team_id: d.team,
      user_id: d.userId,
      user_name: d.userName,
    });
    const proxyLabels = (): Labels => ({
      ...wideLabels(),
      stream,
      is_fallback: fallback,
      status: st,
      outcome: out,
    });
    const durKey = `${wideKey}\u0001${stream}\u0001${st}`;
    const durLabels = (): Labels => ({ ...wideLabels(), stream, status: st, outcome: out });
    const sc = statusClass(status);
    const latKey = `${d.endpoint}\u0001${d.model}\u0001${d.provider}\u0001${sc}\u0001${stream}`;
    const latLabels = (): Labels => ({
      env_id: this.envId,
      endpoint: d.endpoint,
      model: d.model,
      provider: d.provider,
      status_class: sc,
      streaming: stream,
    });
    const llm = kind !== undefined && LLM_KINDS.has(kind);
    const short = `${d.provider}\u0001${d.model}\u0001${st}`;
    return {
      requests: this.requests.cell(short, () => ({
        provider: d.provider,
        model: d.model,
        status: st,
        outcome: out,
      })),
      duration: this.duration.cell(short, () => ({ provider: d.provider, model: d.model, status: st })),
      proxy: this.proxyRequests.cell(key, proxyLabels),
      failed: status >= 400 ? this.proxyFailed.cell(key, proxyLabels) : undefined,
      proxyDuration: this.proxyDuration.cell(durKey, durLabels),
      llm: llm ? this.llmRequests.cell(key, proxyLabels) : undefined,
      llmDuration: llm ? this.llmDuration.cell(durKey, durLabels) : undefined,
      cancelled:
        status === 499 ? this.cancelled.cell(d.endpoint, () => ({ endpoint: d.endpoint })) : undefined,
      e2e: this.e2e.cell(latKey, latLabels),
      upstream: this.upstream.cell(latKey, latLabels),
      overhead: this.overhead.cell(latKey, latLabels),
      ttft: undefined,
      llmTtft: undefined,
      tokens: undefined,
      latKey,
      latLabels,
      wideKey,
      wideLabels,
      provider: d.provider,
      model: d.model,
    };
  }
}
