/**
 * OpenAI chat body → Anthropic Messages request body (pure; no URL, headers or overrides).
 *
 * Mapped: messages/system (`messages.ts`), `max_completion_tokens`/`max_tokens` → `max_tokens`
 * (default 4096, which Anthropic requires), `stop` → `stop_sequences`, `temperature`, `top_p`,
 * function `tools`, `tool_choice` (with `parallel_tool_calls: false` →
 * `disable_parallel_tool_use`), `stream` set to the call mode.
 *
 * Dropped: fields only OpenAI understands (`stream_options`, `n`, `user`, `response_format`,
 * `logprobs`, `seed`, penalties, ...), because Anthropic rejects unknown-to-it OpenAI fields with
 * a 400. Every other field (e.g. `top_k`, `thinking`) is forwarded verbatim, so callers can use
 * Anthropic features the table does not cover. `response_format` is dropped, not emulated:
 * JSON mode is up to the prompt (see docs/providers/anthropic.md).
 *
 * Reused by the Vertex (rawPredict) and Bedrock (invoke) Claude adapters, which pass no model
 * (it lives in their URL) and replace `stream`/`anthropic_version` as their transport needs.
 */
import { type AutoPromptCaching, applyAutoPromptCaching } from './caching.js';
import { isObj, toAnthropicMessages } from './messages.js';
import type { AnthropicRequest, AnthropicTool, AnthropicToolChoice } from './wire.js';

export const DEFAULT_MAX_TOKENS = 4096;

/** Top-level fields computed here, never copied verbatim. */
const MAPPED = new Set([
  'model',
  'messages',
  'stream',
  'max_tokens',
  'max_completion_tokens',
  'stop',
  'temperature',
  'top_p',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'metadata',
]);

/** OpenAI-only request fields: dropped rather than sent to a wire that rejects them. */
const OPENAI_ONLY = new Set([
  'stream_options',
  'n',
  'user',
  'response_format',
  'logprobs',
  'top_logprobs',
  'seed',
  'presence_penalty',
  'frequency_penalty',
  'logit_bias',
  'functions',
  'function_call',
  'modalities',
  'audio',
  'prediction',
  'store',
  'service_tier',
  'reasoning_effort',
  'web_search_options',
  'verbosity',
  'safety_identifier',
  'prompt_cache_key',
]);

export interface AnthropicRequestOptions {
  readonly stream: boolean;
  /** Model `auto_prompt_caching`; applied only when the request carries no `cache_control`. */
  readonly autoPromptCaching?: AutoPromptCaching | null | undefined;
}

export type AnthropicRequestResult =
  | { readonly ok: true; readonly body: AnthropicRequest }
  | { readonly ok: false; readonly message: string };

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function stopSequences(stop: unknown): string[] | undefined {
  if (typeof stop === 'string') return stop === '' ? undefined : [stop];
  if (!Array.isArray(stop)) return undefined;
  const list = stop.filter((s): s is string => typeof s === 'string' && s !== '');
  return list.length > 0 ? list : undefined;
}

/** Function tools only; `cache_control` accepted on the tool or inside `function`. */
export function toAnthropicTools(tools: unknown): AnthropicTool[] | undefined {
  if (!Array.isArray(tools)) return undefined;
  const out: AnthropicTool[] = [];
  for (const t of tools) {
    if (!isObj(t) || t.type !== 'function' || !isObj(t.function)) continue;
    const fn = t.function;
    if (typeof fn.name !== 'string' || fn.name === '') continue;
    // Anthropic requires `input_schema`; a parameterless OpenAI function means "no arguments".
    const tool: AnthropicTool = {
      name: fn.name,
      input_schema: isObj(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
    };
    if (typeof fn.description === 'string') tool.description = fn.description;
    const cc = t.cache_control ?? fn.cache_control;
    if (cc !== undefined) tool.cache_control = cc;
    out.push(tool);
  }
  return out.length > 0 ? out : undefined;
}

/** `tool_choice` mapping; anything unrecognised is dropped, never forwarded raw. */
export function toAnthropicToolChoice(choice: unknown): AnthropicToolChoice | undefined {
  if (choice === 'auto') return { type: 'auto' };
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any' };
  if (isObj(choice) && choice.type === 'function' && isObj(choice.function)) {
    const name = choice.function.name;
    if (typeof name === 'string' && name !== '') return { type: 'tool', name };
  }
  return undefined;
}

/**
 * Builds the Anthropic body. `upstreamModel` undefined omits `model` (Vertex/Bedrock carry it in
 * the URL). Fails only for a tool message without `tool_call_id` (a 400 to the caller).
 */
export function toAnthropicRequest(
  body: Readonly<Record<string, unknown>>,
  upstreamModel: string | undefined,
  opts: AnthropicRequestOptions,
): AnthropicRequestResult {
  const conv = toAnthropicMessages(body.messages);
  if (!conv.ok) return conv;
  const out: AnthropicRequest = { messages: conv.messages, max_tokens: DEFAULT_MAX_TOKENS };
  if (upstreamModel !== undefined) out.model = upstreamModel;
  if (conv.system !== undefined) out.system = conv.system;
  out.max_tokens = num(body.max_completion_tokens) ?? num(body.max_tokens) ?? DEFAULT_MAX_TOKENS;
  out.stream = opts.stream;
  const temperature = num(body.temperature);
  if (temperature !== undefined) out.temperature = temperature;
  const topP = num(body.top_p);
  if (topP !== undefined) out.top_p = topP;
  const stop = stopSequences(body.stop);
  if (stop) out.stop_sequences = stop;
  const tools = toAnthropicTools(body.tools);
  if (tools) out.tools = tools;
  let choice = toAnthropicToolChoice(body.tool_choice);
  if (body.parallel_tool_calls === false && tools && choice?.type !== 'none') {
    choice = { ...(choice ?? { type: 'auto' }), disable_parallel_tool_use: true };
  }
  if (choice) out.tool_choice = choice;
  // OpenAI `metadata` is a free string map; Anthropic accepts only `{user_id}`.
  const md = body.metadata;
  if (isObj(md) && Object.keys(md).length === 1 && typeof md.user_id === 'string') out.metadata = md;
  for (const [k, v] of Object.entries(body)) {
    if (!MAPPED.has(k) && !OPENAI_ONLY.has(k) && v !== undefined) out[k] = v;
  }
  if (opts.autoPromptCaching?.enabled) applyAutoPromptCaching(out, opts.autoPromptCaching.ttl);
  return { ok: true, body: out };
}
