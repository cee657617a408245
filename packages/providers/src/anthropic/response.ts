/**
 * Anthropic Messages response → OpenAI `chat.completion` body, plus the usage and stop-reason
 * mappings the stream translator shares.
 *
 * - Text: all `text` blocks concatenated; no text block at all → `content: null` (what OpenAI
 *   clients expect on a pure tool-call turn), an explicit empty text block → `""`.
 * - `tool_use` blocks → `tool_calls` with `arguments` as a JSON string (`{}` for null input).
 * - `thinking` and other blocks are ignored in the non-streaming body.
 * - `model` is the caller's alias and `created` the gateway clock, not the upstream's.
 * - Usage: cache creation/read tokens are additional to `input_tokens` on this wire, so the
 *   caller-facing `total_tokens` includes them.
 */
import type { TransformResult, Usage } from '../contract.js';
import { emptyUsage } from '../contract.js';
import { isObj } from './messages.js';
import type { AnthropicResponse, AnthropicResponseBlock } from './wire.js';

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

/** `stop_reason` → OpenAI `finish_reason` (unknown reasons pass through verbatim). */
export function mapStopReason(reason: unknown): string {
  switch (reason) {
    case undefined:
    case null:
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    default:
      return typeof reason === 'string' ? reason : 'stop';
  }
}

/** Reads an Anthropic `usage` object into internal counters (total cache-inclusive). */
export function readAnthropicUsage(usage: unknown): Usage {
  const u = emptyUsage();
  if (!isObj(usage)) return u;
  u.prompt_tokens = count(usage.input_tokens);
  u.completion_tokens = count(usage.output_tokens);
  u.cache_creation_tokens = count(usage.cache_creation_input_tokens);
  u.cache_read_tokens = count(usage.cache_read_input_tokens);
  u.total_tokens = u.prompt_tokens + u.completion_tokens + u.cache_creation_tokens + u.cache_read_tokens;
  return u;
}

/** The caller-facing OpenAI `usage` object. */
export function openAiUsage(u: Usage): {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
} {
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.total_tokens,
  };
}

export interface OpenAiToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

function toolCall(b: AnthropicResponseBlock): OpenAiToolCall {
  return {
    id: typeof b.id === 'string' ? b.id : '',
    type: 'function',
    function: {
      name: typeof b.name === 'string' ? b.name : '',
      arguments: b.input === undefined || b.input === null ? '{}' : JSON.stringify(b.input),
    },
  };
}

export interface OpenAiChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: 0;
    message: { role: 'assistant'; content: string | null; tool_calls?: OpenAiToolCall[] };
    finish_reason: string;
  }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/** Maps a parsed Anthropic response; `now` is unix seconds on the gateway clock. */
export function fromAnthropicResponse(
  res: AnthropicResponse,
  alias: string,
  now: number,
): { body: OpenAiChatCompletion; usage: Usage } {
  let content: string | null = null;
  const calls: OpenAiToolCall[] = [];
  for (const b of Array.isArray(res.content) ? res.content : []) {
    if (!isObj(b)) continue;
    if (b.type === 'text') content = (content ?? '') + (typeof b.text === 'string' ? b.text : '');
    else if (b.type === 'tool_use') calls.push(toolCall(b));
  }
  const usage = readAnthropicUsage(res.usage);
  const message: OpenAiChatCompletion['choices'][number]['message'] = { role: 'assistant', content };
  if (calls.length > 0) message.tool_calls = calls;
  return {
    body: {
      id: typeof res.id === 'string' ? res.id : '',
      object: 'chat.completion',
      created: now,
      model: alias,
      choices: [{ index: 0, message, finish_reason: mapStopReason(res.stop_reason) }],
      usage: openAiUsage(usage),
    },
    usage,
  };
}

/** Adapter entry: upstream text → caller body, or a decode failure (502 upstream_decode_error). */
export function transformAnthropicText(text: string, alias: string, now: number): TransformResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, message: 'upstream returned an unparseable body: invalid JSON' };
  }
  if (!isObj(parsed))
    return { ok: false, message: 'upstream returned an unparseable body: not a JSON object' };
  if (parsed.type === 'error' || !Array.isArray(parsed.content)) {
    return { ok: false, message: 'upstream returned an unparseable body: not a Messages response' };
  }
  const { body, usage } = fromAnthropicResponse(parsed as AnthropicResponse, alias, now);
  return { ok: true, body: JSON.stringify(body), usage };
}
