/**
 * OpenAI chat completion → OpenAI Responses object, for bridged `/v1/responses` calls. Text
 * becomes one `message` output item, each tool call a `function_call` item; a `length` or
 * `content_filter` finish makes the response `incomplete`. The object builder is shared with the
 * stream encoder, whose terminal event carries the same object.
 */
import type { Usage } from '../../contract.js';
import { type ChatCompletion, contentText, hexId, type Json } from '../shared/chat-types.js';

export function responsesUsage(u: Usage): Json {
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: Math.max(u.cached_prompt_tokens, u.cache_read_tokens) },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: u.reasoning_tokens },
    total_tokens: u.total_tokens > 0 ? u.total_tokens : u.prompt_tokens + u.completion_tokens,
  };
}

/** `incomplete_details.reason` for a chat finish reason, or undefined when complete. */
export function incompleteReason(finish: string | null | undefined): string | undefined {
  if (finish === 'length') return 'max_output_tokens';
  if (finish === 'content_filter') return 'content_filter';
  return undefined;
}

export interface ResponseHead {
  readonly id: string;
  readonly createdAt: number;
  readonly alias: string;
  /** The request's `tools` / `tool_choice` as the response reports them (`responsesEcho`). */
  readonly echo: Json | undefined;
}

export function newHead(alias: string, echo?: Json): ResponseHead {
  return { id: `resp_${hexId()}`, createdAt: Math.floor(Date.now() / 1000), alias, echo };
}

export function responseObject(
  head: ResponseHead,
  status: string,
  output: readonly Json[],
  usage: Json | null,
  extra: Json = {},
): Json {
  return {
    id: head.id,
    object: 'response',
    created_at: head.createdAt,
    status,
    error: null,
    incomplete_details: null,
    model: head.alias,
    output,
    parallel_tool_calls: true,
    tool_choice: 'auto',
    tools: [],
    ...head.echo,
    usage,
    ...extra,
  };
}

export function messageItem(id: string, text: string, status: string): Json {
  return {
    type: 'message',
    id,
    status,
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [] }],
  };
}

export function functionCallItem(
  id: string,
  callId: string,
  name: string,
  args: string,
  status: string,
): Json {
  return { type: 'function_call', id, call_id: callId, name, arguments: args, status };
}

export function chatToResponses(
  completion: ChatCompletion,
  alias: string,
  usage: Usage,
  echo?: Json,
): string {
  const choice = completion.choices?.[0];
  const msg = choice?.message;
  const output: Json[] = [];
  const text = contentText(msg?.content);
  if (text !== '') output.push(messageItem(`msg_${hexId()}`, text, 'completed'));
  for (const c of Array.isArray(msg?.tool_calls) ? msg.tool_calls : []) {
    const name = c.function?.name;
    if (typeof name !== 'string') continue;
    const args = typeof c.function?.arguments === 'string' ? c.function.arguments : '{}';
    output.push(functionCallItem(`fc_${hexId()}`, c.id ?? '', name, args, 'completed'));
  }
  const reason = incompleteReason(choice?.finish_reason);
  // The item the answer was cut short in (the last one) is `incomplete` too, as OpenAI reports it.
  const last = output.at(-1);
  if (reason && last !== undefined) last.status = 'incomplete';
  const head = newHead(alias, echo);
  const extra: Json = reason ? { incomplete_details: { reason } } : {};
  return JSON.stringify(
    responseObject(head, reason ? 'incomplete' : 'completed', output, responsesUsage(usage), extra),
  );
}
