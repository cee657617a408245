/**
 * The records a request leaves for usage accounting, as plain types: the routing attempts
 * dispatch saw, the usage events built from them, the captured content. Kept apart from the code
 * that builds them (events.ts, content.ts) so the request context can name them without an
 * import cycle (context.ts <-> events.ts).
 */
import type { Resource } from '@aisix/core';
import type { Usage } from '@aisix/providers';

/** `inbound_protocol` of metrics and usage events: the caller's wire dialect or surface. */
export type InboundProtocol = 'openai' | 'anthropic' | 'mcp' | 'a2a' | 'realtime' | 'batch';

/** What a full-content exporter adds to the last event of a request. */
export interface UsageContent {
  readonly prompt: string;
  readonly completion: string;
}

/** `panel` / `judge`: the sub-calls of an ensemble (agents-and-jobs §8.1 step 7). */
export type AttemptKind = 'initial' | 'retry' | 'fallback' | 'panel' | 'judge';

/** One routing attempt as dispatch saw it (recorded only while events are built). */
export interface AttemptRecord {
  readonly index: number;
  readonly kind: AttemptKind;
  readonly model: Resource<'models'>;
  readonly upstreamModel: string;
  readonly provider: string;
  readonly providerKeyName: string | null;
  /** `performance.now()` when the attempt started. */
  readonly t0: number;
  /** Duration; -1 while the attempt runs (a stream can close the response before it returns). */
  ms: number;
  /** The attempt served the response (a success, or a stream that failed after commit). */
  ok: boolean;
  /** Upstream (or gateway-decided) status of a failed attempt. */
  status: number | undefined;
  /** The attempt's failure; also set on a served attempt whose stream failed after commit. */
  errorClass: string | null;
  errorMessage: string | null;
  providerRequestId: string | null;
  /** This attempt's own usage (ensemble sub-calls); else the request's usage. */
  usage?: Usage;
  /** Whether `usage` holds local estimates (else the request's flag applies). */
  estimated?: boolean;
}

export interface UsageEvent {
  readonly request_id: string;
  readonly occurred_at: string;
  readonly model_id: string | null;
  readonly api_key_id: string | null;
  readonly requested_model: string | null;
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly cached_prompt_tokens: number;
  readonly reasoning_tokens: number;
  readonly cache_creation_tokens: number;
  readonly cache_read_tokens: number;
  readonly usage_estimated: boolean;
  readonly upstream_latency_ms: number | null;
  readonly upstream_ttft_ms: number | null;
  readonly downstream_latency_ms: number;
  readonly status_code: number;
  readonly provider_request_id: string | null;
  readonly provider_model_version: string | null;
  readonly finish_reason: string | null;
  readonly cost_usd: number | null;
  readonly guardrail_blocked: boolean;
  readonly guardrail_bypassed_reason: string | null;
  readonly applied_guardrails: readonly { readonly kind: string; readonly hook: string }[];
  readonly redacted_entity_counts: Readonly<Record<string, number>>;
  readonly guardrail_monitor_hits: readonly string[];
  readonly cache_status: 'disabled' | 'miss' | 'hit' | 'bypass';
  readonly cache_hit_layer: string | null;
  readonly cache_similarity: number | null;
  readonly cache_hit_saved_input_tokens: number;
  readonly cache_hit_saved_output_tokens: number;
  readonly inbound_protocol: InboundProtocol;
  readonly attempt_index: number;
  readonly attempt_kind: AttemptKind;
  readonly attempt_model: string | null;
  readonly error_class: string | null;
  readonly error_message: string | null;
  readonly provider_kind: string | null;
  readonly provider_featured: boolean;
  readonly branded_provider: string | null;
  readonly pk_label: string | null;
  readonly byo_label: string | null;
  readonly client_source_ip: string | null;
  readonly client_user_agent: string | null;
  /** Gateway-side details (not in the reference list): the endpoint route template, and when the
   * attempt started (RFC 3339; null for a terminal event). */
  readonly endpoint: string;
  readonly attempt_started_at: string | null;
  /** A2A calls only (agents-and-jobs §1.4): the agent and the JSON-RPC method (`""` if none). */
  readonly a2a_agent_name?: string;
  readonly a2a_method?: string;
  /** MCP `tools/call` only (agents-and-jobs §1.4): the attributed server and tool. */
  readonly mcp_server_name?: string;
  readonly mcp_tool_name?: string;
}
