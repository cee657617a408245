/**
 * OpenAI chat `messages[]` → Anthropic `system` + `messages[]`.
 *
 * - Leading `system` (and `developer`) messages become the top-level `system`: one string joined
 *   with a blank line when all were plain strings, text blocks when any carried parts (so a
 *   caller's `cache_control` survives). A system message after the conversation started becomes
 *   a user turn, because Anthropic has no mid-conversation system role.
 * - Text parts keep only `type`, `text`, `cache_control` and `citations`; blank ones are dropped
 *   (Anthropic rejects empty text blocks mid-array). Image parts become `image` blocks: data URLs
 *   as base64 sources, http(s) URLs as url sources. Audio and file parts are dropped.
 * - Assistant `tool_calls` become `tool_use` blocks; `tool` messages become `tool_result` blocks
 *   in a user turn. Consecutive turns of one role are merged afterwards, which is what makes
 *   parallel tool results (several `tool` messages in a row) one valid user turn.
 *
 * Top-level fields (tools, limits, stop sequences) are handled in `request.ts`.
 */
import { normalizeMediaType } from '../shared/mime.js';
import type { AnthropicMessage, ImageBlock, RequestBlock, TextBlock, ToolUseBlock } from './wire.js';

type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export type MessagesResult =
  | {
      readonly ok: true;
      readonly system: string | TextBlock[] | undefined;
      readonly messages: AnthropicMessage[];
    }
  | { readonly ok: false; readonly message: string };

/** A text part reduced to the fields Anthropic accepts on a text block. */
function textBlock(part: Obj): TextBlock | undefined {
  if (typeof part.text !== 'string' || part.text.trim() === '') return undefined;
  const b: TextBlock = { type: 'text', text: part.text };
  if (part.cache_control !== undefined) b.cache_control = part.cache_control;
  if (part.citations !== undefined) b.citations = part.citations;
  return b;
}

const DATA_URL = /^data:([^;,]+)((?:;[^;,]*)*);base64,/i;

/** `image_url` part → `image` block; undefined for URLs Anthropic cannot take. */
export function imageBlock(part: Obj): ImageBlock | undefined {
  const ref = part.image_url;
  const url = typeof ref === 'string' ? ref : isObj(ref) && typeof ref.url === 'string' ? ref.url : '';
  let block: ImageBlock | undefined;
  const m = DATA_URL.exec(url);
  if (m) {
    block = {
      type: 'image',
      source: { type: 'base64', media_type: normalizeMediaType(m[1] ?? ''), data: url.slice(m[0].length) },
    };
  } else if (/^https?:\/\//i.test(url)) {
    block = { type: 'image', source: { type: 'url', url } };
  }
  if (block && part.cache_control !== undefined) block.cache_control = part.cache_control;
  return block;
}

/** Content (string, parts or null) → blocks; blank text dropped. */
function contentBlocks(content: unknown, allowImages: boolean): RequestBlock[] {
  if (typeof content === 'string') return content.trim() === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  const out: RequestBlock[] = [];
  for (const part of content) {
    if (typeof part === 'string') {
      if (part.trim() !== '') out.push({ type: 'text', text: part });
      continue;
    }
    if (!isObj(part)) continue;
    const b =
      part.type === 'text'
        ? textBlock(part)
        : allowImages && part.type === 'image_url'
          ? imageBlock(part)
          : undefined;
    if (b) out.push(b);
  }
  return out;
}

/** Plain text of a content value (tool results, late system messages). */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let s = '';
  for (const p of content) {
    if (typeof p === 'string') s += p;
    else if (isObj(p) && typeof p.text === 'string') s += p.text;
  }
  return s;
}

function emptyText(): TextBlock {
  return { type: 'text', text: '' };
}

/** `function.arguments` parsed as a JSON object, else `{}` (Anthropic requires an object). */
function toolInput(args: unknown): Record<string, unknown> {
  if (isObj(args)) return args;
  if (typeof args !== 'string') return {};
  try {
    const v: unknown = JSON.parse(args);
    return isObj(v) ? v : {};
  } catch {
    return {};
  }
}

function toolUseBlocks(calls: unknown): ToolUseBlock[] {
  if (!Array.isArray(calls)) return [];
  const out: ToolUseBlock[] = [];
  for (const c of calls) {
    if (!isObj(c)) continue;
    const fn = isObj(c.function) ? c.function : {};
    if (typeof c.id !== 'string' || c.id === '' || typeof fn.name !== 'string' || fn.name === '') continue;
    out.push({ type: 'tool_use', id: c.id, name: fn.name, input: toolInput(fn.arguments) });
  }
  return out;
}

function systemOf(leading: Obj[]): string | TextBlock[] | undefined {
  if (leading.length === 0) return undefined;
  if (leading.every((m) => typeof m.content === 'string')) {
    const joined = leading.map((m) => m.content as string).join('\n\n');
    return joined === '' ? undefined : joined;
  }
  const blocks: TextBlock[] = [];
  for (const m of leading) {
    for (const b of contentBlocks(m.content, false)) if (b.type === 'text') blocks.push(b);
  }
  return blocks.length > 0 ? blocks : undefined;
}

const isSystemRole = (role: unknown) => role === 'system' || role === 'developer';

/** One OpenAI message → one Anthropic turn (before merging). */
function turn(m: Obj): AnthropicMessage | string | undefined {
  switch (m.role) {
    case 'user': {
      const blocks = contentBlocks(m.content, true);
      return { role: 'user', content: blocks.length > 0 ? blocks : [emptyText()] };
    }
    case 'assistant': {
      const blocks: RequestBlock[] = [...contentBlocks(m.content, false), ...toolUseBlocks(m.tool_calls)];
      return { role: 'assistant', content: blocks.length > 0 ? blocks : [emptyText()] };
    }
    case 'tool': {
      if (typeof m.tool_call_id !== 'string' || m.tool_call_id === '') {
        return 'invalid upstream configuration: tool message missing tool_call_id field';
      }
      const content = contentText(m.content);
      return { role: 'user', content: [{ type: 'tool_result', tool_use_id: m.tool_call_id, content }] };
    }
    case 'system':
    case 'developer': {
      const text = contentText(m.content);
      return { role: 'user', content: [text.trim() === '' ? emptyText() : { type: 'text', text }] };
    }
    default:
      // Legacy `function` messages and unknown roles have no Anthropic counterpart.
      return undefined;
  }
}

/** Concatenates two turns' blocks; an empty placeholder text block only survives alone. */
function merged(a: RequestBlock[], b: RequestBlock[]): RequestBlock[] {
  const all = [...a, ...b];
  const kept = all.filter((x) => x.type !== 'text' || x.text !== '');
  return kept.length > 0 ? kept : [emptyText()];
}

/** Translates `messages[]`; fails only on a tool message without `tool_call_id`. */
export function toAnthropicMessages(input: unknown): MessagesResult {
  const list = Array.isArray(input) ? input.filter(isObj) : [];
  let i = 0;
  while (i < list.length && isSystemRole(list[i]?.role)) i++;
  const system = systemOf(list.slice(0, i));
  const messages: AnthropicMessage[] = [];
  for (; i < list.length; i++) {
    const t = turn(list[i] as Obj);
    if (typeof t === 'string') return { ok: false, message: t };
    if (!t) continue;
    const prev = messages.at(-1);
    if (prev && prev.role === t.role) prev.content = merged(prev.content, t.content);
    else messages.push(t);
  }
  return { ok: true, system, messages };
}
