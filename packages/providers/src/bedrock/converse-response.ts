/**
 * Bedrock Converse response → OpenAI `chat.completion` (non-streaming), plus the stop-reason and
 * usage mappings the stream translator (converse-stream.ts) shares.
 *
 * - Text blocks are concatenated into `message.content` (null when there is none); `toolUse`
 *   blocks become `tool_calls` (input re-serialised as the `arguments` string);
 *   `reasoningContent.reasoningText.text` becomes `reasoning_content`.
 * - stopReason: end_turn / stop_sequence → stop, max_tokens / model_context_window_exceeded →
 *   length, tool_use → tool_calls, content_filtered / guardrail_intervened → content_filter,
 *   anything else verbatim.
 * - Usage: inputTokens → prompt, outputTokens → completion, cacheReadInputTokens /
 *   cacheWriteInputTokens → cache read / creation (Anthropic-style: in addition to the prompt);
 *   total = max(totalTokens, sum of all four). Missing counters are 0.
 *
 * Converse bodies carry no id; one is generated so callers always get a `chatcmpl-…` id.
 */
import { randomUUID } from 'node:crypto';
import type { TransformResult, Usage } from '../contract.js';
import { emptyUsage } from '../contract.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

const STOP_REASONS: Readonly<Record<string, string>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  content_filtered: 'content_filter',
  guardrail_intervened: 'content_filter',
};

export function mapStopReason(reason: unknown): string {
  if (typeof reason !== 'string' || reason === '') return 'stop';
  return STOP_REASONS[reason] ?? reason;
}

export function readConverseUsage(u: unknown): Usage {
  const usage = emptyUsage();
  if (!isObj(u)) return usage;
  usage.prompt_tokens = count(u.inputTokens);
  usage.completion_tokens = count(u.outputTokens);
  usage.cache_read_tokens = count(u.cacheReadInputTokens);
  usage.cache_creation_tokens = count(u.cacheWriteInputTokens);
  const sum =
    usage.prompt_tokens + usage.completion_tokens + usage.cache_read_tokens + usage.cache_creation_tokens;
  usage.total_tokens = Math.max(count(u.totalTokens), sum);
  return usage;
}

/** The caller-facing OpenAI usage object (cache reads shown as `prompt_tokens_details.cached_tokens`). */
export function openAiUsage(u: Usage): Obj {
  const out: Obj = {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.total_tokens,
  };
  if (u.cache_read_tokens > 0) out.prompt_tokens_details = { cached_tokens: u.cache_read_tokens };
  return out;
}

export function newCompletionId(): string {
  return `chatcmpl-${randomUUID().replaceAll('-', '')}`;
}

interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export function fromConverseResponse(
  res: Obj,
  alias: string,
  nowSeconds: number,
): { body: Obj; usage: Usage } {
  const output = isObj(res.output) ? res.output : {};
  const msg = isObj(output.message) ? output.message : {};
  let content: string | null = null;
  let reasoning = '';
  const calls: ToolCall[] = [];
  for (const b of Array.isArray(msg.content) ? msg.content : []) {
    if (!isObj(b)) continue;
    if (typeof b.text === 'string') content = (content ?? '') + b.text;
    else if (isObj(b.toolUse)) {
      const t = b.toolUse;
      calls.push({
        id: typeof t.toolUseId === 'string' ? t.toolUseId : '',
        type: 'function',
        function: {
          name: typeof t.name === 'string' ? t.name : '',
          arguments: JSON.stringify(t.input ?? {}),
        },
      });
    } else if (isObj(b.reasoningContent) && isObj(b.reasoningContent.reasoningText)) {
      const t = b.reasoningContent.reasoningText.text;
      if (typeof t === 'string') reasoning += t;
    }
  }
  const message: Obj = { role: 'assistant', content };
  if (calls.length > 0) message.tool_calls = calls;
  if (reasoning !== '') message.reasoning_content = reasoning;
  const usage = readConverseUsage(res.usage);
  return {
    body: {
      id: newCompletionId(),
      object: 'chat.completion',
      created: nowSeconds,
      model: alias,
      choices: [{ index: 0, message, finish_reason: mapStopReason(res.stopReason) }],
      usage: openAiUsage(usage),
    },
    usage,
  };
}

export function transformConverseText(text: string, alias: string, nowSeconds: number): TransformResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, message: 'upstream returned an unparseable body: invalid JSON' };
  }
  if (!isObj(parsed) || !isObj(parsed.output)) {
    return { ok: false, message: 'upstream returned an unparseable body: not a Converse response' };
  }
  const { body, usage } = fromConverseResponse(parsed, alias, nowSeconds);
  return { ok: true, body: JSON.stringify(body), usage };
}
