/**
 * OpenAI chat completion → Anthropic Messages response, for bridged `/v1/messages` calls.
 * The id is the upstream's, `model` is the name the caller sent, text and tool calls become
 * `text` / `tool_use` blocks, and usage carries input/output tokens (cache counters are not
 * rendered: the upstream's prompt count already includes cached tokens on this wire).
 */
import type { Usage } from '../../contract.js';
import {
  type ChatCompletion,
  type ChatToolCall,
  contentText,
  isObject,
  type Json,
} from '../shared/chat-types.js';

/** OpenAI `finish_reason` → Anthropic `stop_reason`. */
export function stopReason(finish: string | null | undefined): string {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'stop_sequence';
    default:
      return 'end_turn';
  }
}

/** Tool-call arguments as an object; anything unparseable or not an object becomes `{}`. */
export function parseArguments(args: unknown): Json {
  if (typeof args !== 'string' || args.trim() === '') return {};
  try {
    const v: unknown = JSON.parse(args);
    return isObject(v) ? v : {};
  } catch {
    return {};
  }
}

function toolUseBlocks(calls: readonly ChatToolCall[] | undefined): Json[] {
  if (!Array.isArray(calls)) return [];
  const out: Json[] = [];
  for (const c of calls) {
    const name = c.function?.name;
    if (typeof c.id !== 'string' || typeof name !== 'string' || c.id === '' || name === '') continue;
    out.push({ type: 'tool_use', id: c.id, name, input: parseArguments(c.function?.arguments) });
  }
  return out;
}

export function chatToAnthropic(completion: ChatCompletion, alias: string, usage: Usage): string {
  const choice = completion.choices?.[0];
  const msg = choice?.message;
  const text = contentText(msg?.content);
  const content: Json[] = text !== '' ? [{ type: 'text', text }] : [];
  content.push(...toolUseBlocks(msg?.tool_calls));
  if (content.length === 0) content.push({ type: 'text', text: '' });
  return JSON.stringify({
    id: completion.id ?? '',
    type: 'message',
    role: 'assistant',
    model: alias,
    content,
    stop_reason: stopReason(choice?.finish_reason),
    stop_sequence: null,
    usage: { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens },
  });
}
