/**
 * OpenAI Responses request → OpenAI chat request, for targets other than OpenAI itself.
 *
 * `instructions` becomes a system message; `input` (a string or a list of items) becomes the
 * conversation: messages, `function_call` items folded into assistant `tool_calls`,
 * `function_call_output` items as `role: tool` messages. Flat function tools and `tool_choice`
 * are reshaped; `max_output_tokens` → `max_tokens`. Image inputs become `image_url` parts.
 * Server-side state and hosted features (`previous_response_id`, `store`, `reasoning`, hosted
 * tools, `text` formats) have no chat equivalent and are dropped.
 */
import { BodyError, copyBoolean, copyCount, copyNumbers } from '../shared/body-fields.js';
import type { ToChatResult } from '../shared/bridge.js';
import { isObject, type Json } from '../shared/chat-types.js';

const TEXT_PARTS = new Set(['input_text', 'output_text', 'text']);

function itemContent(content: unknown): string | Json[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const parts: Json[] = [];
  for (const p of content) {
    if (!isObject(p)) continue;
    if (TEXT_PARTS.has(String(p.type)) && typeof p.text === 'string')
      parts.push({ type: 'text', text: p.text });
    else if (p.type === 'input_image') {
      const url = typeof p.image_url === 'string' ? p.image_url : undefined;
      if (url) parts.push({ type: 'image_url', image_url: { url } });
    }
  }
  if (parts.some((p) => p.type === 'image_url')) return parts;
  return parts.map((p) => p.text as string).join('');
}

function roleOf(role: unknown): string {
  if (role === 'assistant') return 'assistant';
  if (role === 'system' || role === 'developer') return 'system';
  return 'user';
}

function outputText(output: unknown): string {
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) return itemContent(output) as string;
  return output === undefined || output === null ? '' : JSON.stringify(output);
}

function inputMessages(input: unknown): Json[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  if (!Array.isArray(input)) throw new BodyError('input: must be a string or an array of items');
  const out: Json[] = [];
  let calls: Json[] | undefined;
  for (const item of input) {
    if (typeof item === 'string') {
      calls = undefined;
      out.push({ role: 'user', content: item });
      continue;
    }
    if (!isObject(item)) continue;
    if (item.type === 'function_call') {
      const call = {
        id: typeof item.call_id === 'string' ? item.call_id : item.id,
        type: 'function',
        function: { name: item.name, arguments: typeof item.arguments === 'string' ? item.arguments : '{}' },
      };
      // Consecutive calls are one assistant turn with parallel tool calls.
      if (calls) calls.push(call);
      else {
        calls = [call];
        out.push({ role: 'assistant', content: null, tool_calls: calls });
      }
      continue;
    }
    calls = undefined;
    if (item.type === 'function_call_output') {
      out.push({ role: 'tool', tool_call_id: item.call_id, content: outputText(item.output) });
    } else if (item.type === 'reasoning') {
      // reasoning items are the upstream's own state: nothing a chat model can read
    } else {
      const content = itemContent(item.content);
      if (content === '' || (Array.isArray(content) && content.length === 0)) continue;
      out.push({ role: roleOf(item.role), content });
    }
  }
  return out;
}

function tools(list: unknown): Json[] | undefined {
  if (!Array.isArray(list)) return undefined;
  const out: Json[] = [];
  for (const t of list) {
    if (!isObject(t) || t.type !== 'function' || typeof t.name !== 'string') continue;
    const fn: Json = { name: t.name };
    if (typeof t.description === 'string') fn.description = t.description;
    if (isObject(t.parameters)) fn.parameters = t.parameters;
    if (typeof t.strict === 'boolean') fn.strict = t.strict;
    out.push({ type: 'function', function: fn });
  }
  return out.length > 0 ? out : undefined;
}

function toolChoice(tc: unknown): unknown {
  if (typeof tc === 'string') return tc;
  if (isObject(tc) && tc.type === 'function' && typeof tc.name === 'string') {
    return { type: 'function', function: { name: tc.name } };
  }
  return undefined;
}

function build(body: Readonly<Json>): Json {
  const messages: Json[] = [];
  if (typeof body.instructions === 'string' && body.instructions !== '') {
    messages.push({ role: 'system', content: body.instructions });
  }
  messages.push(...inputMessages(body.input));
  if (messages.length === 0) throw new BodyError('input: must not be empty');
  const out: Json = { model: body.model, messages };
  // Typed as the Responses API types them (a dropped `max_output_tokens` would change what the
  // upstream is asked for); `max_output_tokens` wins over its alias.
  copyNumbers(body, out, ['temperature', 'top_p']);
  copyCount(body, out, ['max_output_tokens', 'max_tokens'], 'max_tokens');
  copyBoolean(body, out, 'stream');
  const t = tools(body.tools);
  if (t) out.tools = t;
  const tc = toolChoice(body.tool_choice);
  if (tc !== undefined && t) out.tool_choice = tc;
  return out;
}

export function responsesToChat(body: Readonly<Json>): ToChatResult {
  try {
    return { ok: true, body: build(body) };
  } catch (e) {
    if (!(e instanceof BodyError)) throw e;
    return { ok: false, message: `request payload is invalid: invalid Responses body: ${e.message}` };
  }
}

/**
 * What a bridged answer reports of its request (`tools`, `tool_choice`), as the Responses API
 * echoes them: the function tools and the tool choice that went upstream, in the caller's flat
 * shape; hosted tools were dropped, so they are not claimed.
 */
export function responsesEcho(body: Readonly<Json>): Json {
  const sent = tools(body.tools);
  const flat = (Array.isArray(body.tools) ? body.tools : []).filter(
    (t: unknown) => isObject(t) && t.type === 'function' && typeof t.name === 'string',
  );
  const tc = sent ? toolChoice(body.tool_choice) : undefined;
  return {
    tool_choice: tc === undefined ? 'auto' : typeof tc === 'string' ? tc : body.tool_choice,
    tools: flat,
  };
}
