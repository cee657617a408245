/**
 * Anthropic Messages request → OpenAI chat request, for targets that do not speak Anthropic.
 *
 * `system` becomes a leading system message; content blocks become OpenAI parts (images and
 * documents as `image_url`, base64 sources as data URLs); `tool_use` becomes assistant
 * `tool_calls`; `tool_result` becomes `role: tool` messages placed before the rest of their user
 * turn; `stop_sequences` → `stop`, `metadata.user_id` → `user`, `thinking` → `reasoning_effort`.
 * Anthropic-only fields (`top_k`, `service_tier`, `mcp_servers`, ...) are dropped because they
 * would be refused by OpenAI-compatible upstreams; so is a `tool_choice` once every tool was a
 * server tool, while `tool_choice.disable_parallel_tool_use` becomes `parallel_tool_calls: false`.
 * Thinking blocks in history are dropped too: they carry a signature only Anthropic can verify.
 */
import { BodyError, copyBoolean, copyCount, copyNumbers } from '../shared/body-fields.js';
import type { ToChatResult } from '../shared/bridge.js';
import { isObject, type Json } from '../shared/chat-types.js';

const fail = (detail: string): never => {
  throw new BodyError(detail);
};

/** OpenAI function names are capped at 64 characters. */
const MAX_TOOL_NAME = 64;

function systemMessage(system: unknown): Json | undefined {
  if (system === undefined || system === null) return undefined;
  if (typeof system === 'string') return system === '' ? undefined : { role: 'system', content: system };
  if (!Array.isArray(system)) return fail('system: must be a string or an array of text blocks');
  const texts = system.filter((b) => isObject(b) && typeof b.text === 'string').map((b) => (b as Json).text);
  return texts.length === 0 ? undefined : { role: 'system', content: texts.join('\n') };
}

/** An Anthropic `image` / `document` source → OpenAI `image_url` part, or undefined. */
function imagePart(block: Json): Json | undefined {
  const src = block.source;
  if (!isObject(src)) return undefined;
  if (src.type === 'base64' && typeof src.data === 'string') {
    const media = typeof src.media_type === 'string' ? src.media_type : 'application/octet-stream';
    return { type: 'image_url', image_url: { url: `data:${media};base64,${src.data}` } };
  }
  if (src.type === 'url' && typeof src.url === 'string')
    return { type: 'image_url', image_url: { url: src.url } };
  return undefined;
}

/** Text parts and image parts of a block list (other blocks dropped). */
function parts(blocks: readonly unknown[]): Json[] {
  const out: Json[] = [];
  for (const b of blocks) {
    if (!isObject(b)) continue;
    if (b.type === 'text' && typeof b.text === 'string') out.push({ type: 'text', text: b.text });
    else if (b.type === 'image' || b.type === 'document') {
      const p = imagePart(b);
      if (p) out.push(p);
    }
  }
  return out;
}

/** One text part → a plain string; images (or several parts) keep the parts array. */
function partsContent(ps: Json[]): string | Json[] {
  if (ps.length === 0) return '';
  if (ps.length === 1 && ps[0]?.type === 'text') return ps[0].text as string;
  if (ps.every((p) => p.type === 'text')) return ps.map((p) => p.text as string).join('');
  return ps;
}

function toolResult(block: Json): Json {
  const c = block.content;
  let content: string | Json[] = '';
  if (typeof c === 'string') content = c;
  else if (Array.isArray(c)) {
    const ps = parts(c);
    content = ps.some((p) => p.type === 'image_url') ? ps : ps.map((p) => p.text as string).join('');
  }
  return {
    role: 'tool',
    tool_call_id: typeof block.tool_use_id === 'string' ? block.tool_use_id : '',
    content,
  };
}

function userMessages(blocks: readonly unknown[]): Json[] {
  const tools = blocks
    .filter((b) => isObject(b) && b.type === 'tool_result')
    .map((b) => toolResult(b as Json));
  const rest = parts(blocks);
  if (rest.length === 0 && tools.length > 0) return tools;
  return [...tools, { role: 'user', content: partsContent(rest) }];
}

function assistantMessage(blocks: readonly unknown[]): Json {
  let text = '';
  let sawText = false;
  const calls: Json[] = [];
  for (const b of blocks) {
    if (!isObject(b)) continue;
    if (b.type === 'text' && typeof b.text === 'string') {
      text += b.text;
      sawText = true;
    } else if (b.type === 'tool_use' && typeof b.id === 'string' && typeof b.name === 'string') {
      const args = b.input === undefined || b.input === null ? {} : b.input;
      calls.push({
        id: b.id,
        type: 'function',
        function: { name: b.name.slice(0, MAX_TOOL_NAME), arguments: JSON.stringify(args) },
      });
    }
  }
  if (calls.length === 0) return { role: 'assistant', content: text };
  return { role: 'assistant', content: sawText && text !== '' ? text : null, tool_calls: calls };
}

function message(m: unknown, i: number): Json[] {
  if (!isObject(m)) return fail(`messages[${i}]: must be an object`);
  const role = m.role;
  const c = m.content;
  if (role !== 'user' && role !== 'assistant' && role !== 'system') {
    return fail(`messages[${i}] role ${JSON.stringify(role)} is not 'user', 'assistant' or 'system'`);
  }
  if (typeof c !== 'string' && !Array.isArray(c)) {
    return fail(`messages[${i}].content: must be a string or an array`);
  }
  if (typeof c === 'string') return [{ role, content: c }];
  if (role === 'assistant') return [assistantMessage(c)];
  if (role === 'system') return [{ role, content: partsContent(parts(c).filter((p) => p.type === 'text')) }];
  return userMessages(c);
}

function messages(list: unknown): Json[] {
  if (!Array.isArray(list) || list.length === 0) return fail('messages: must be a non-empty array');
  return list.flatMap(message);
}

function tools(list: unknown): Json[] | undefined {
  if (!Array.isArray(list)) return undefined;
  const out: Json[] = [];
  for (const t of list) {
    // Server tools (web search, code execution, ...) carry a versioned `type` and no schema.
    if (!isObject(t) || typeof t.name !== 'string' || (t.type !== undefined && t.type !== 'custom')) continue;
    const fn: Json = { name: t.name };
    if (typeof t.description === 'string') fn.description = t.description;
    if (isObject(t.input_schema)) fn.parameters = t.input_schema;
    out.push({ type: 'function', function: fn });
  }
  return out.length > 0 ? out : undefined;
}

function toolChoice(tc: unknown): unknown {
  if (!isObject(tc)) return undefined;
  switch (tc.type) {
    case 'auto':
      return 'auto';
    case 'none':
      return 'none';
    case 'any':
      return 'required';
    case 'tool':
      return typeof tc.name === 'string' ? { type: 'function', function: { name: tc.name } } : undefined;
    default:
      return undefined;
  }
}

/** `thinking` budget → OpenAI `reasoning_effort`. */
function reasoningEffort(thinking: unknown): string | undefined {
  if (!isObject(thinking)) return undefined;
  if (thinking.type === 'adaptive') return 'medium';
  if (thinking.type !== 'enabled') return undefined;
  const b = typeof thinking.budget_tokens === 'number' ? thinking.budget_tokens : 0;
  if (b >= 4096) return 'high';
  if (b >= 2048) return 'medium';
  if (b >= 1024) return 'low';
  return 'minimal';
}

function build(body: Readonly<Json>): Json {
  const sys = systemMessage(body.system);
  const out: Json = {
    model: body.model,
    messages: sys ? [sys, ...messages(body.messages)] : messages(body.messages),
  };
  // Typed as the Messages API types them (the native passthrough leaves that to Anthropic).
  copyNumbers(body, out, ['temperature', 'top_p']);
  copyCount(body, out, ['max_tokens'], 'max_tokens');
  copyBoolean(body, out, 'stream');
  const t = tools(body.tools);
  if (t) out.tools = t;
  // Tools that were all server tools are gone: a choice among them would be refused upstream.
  const tc = Array.isArray(body.tools) && !t ? undefined : toolChoice(body.tool_choice);
  if (tc !== undefined) out.tool_choice = tc;
  if (t && isObject(body.tool_choice) && body.tool_choice.disable_parallel_tool_use === true)
    out.parallel_tool_calls = false;
  const stops = body.stop_sequences;
  if (stops !== undefined && stops !== null) {
    if (!Array.isArray(stops) || !stops.every((x) => typeof x === 'string'))
      fail('stop_sequences: must be an array of strings');
    if ((stops as string[]).length > 0) out.stop = stops;
  }
  if (isObject(body.metadata) && typeof body.metadata.user_id === 'string') out.user = body.metadata.user_id;
  const effort = reasoningEffort(body.thinking);
  if (effort) out.reasoning_effort = effort;
  return out;
}

export function anthropicToChat(body: Readonly<Json>): ToChatResult {
  try {
    return { ok: true, body: build(body) };
  } catch (e) {
    if (!(e instanceof BodyError)) throw e;
    return { ok: false, message: `request payload is invalid: invalid Anthropic body: ${e.message}` };
  }
}
