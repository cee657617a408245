/**
 * Where the scanned text lives in request and response bodies, as slots (an object and a key
 * holding a string) so a mask can be written back in place.
 *
 * Input: message text, the `text` parts of part arrays, tool calls (chat `function.arguments`,
 * Anthropic `tool_use.input` string and number values, Responses `function_call.arguments`), tool results,
 * system prompts and instructions; completions `prompt` and embeddings `input` strings (token
 * arrays are not text). Output: assistant text and tool calls; reasoning is not scanned.
 */
import type { RouteKind } from '../pipeline/context.js';

type Obj = Record<string, unknown>;

export interface Slot {
  readonly o: Obj | unknown[];
  readonly k: string | number;
}

/** The slot's text: a string, or a number leaf of a tool input as it is serialized. */
export const slotText = (s: Slot): string => {
  const v = (s.o as Record<string | number, unknown>)[s.k];
  return typeof v === 'number' ? String(v) : (v as string);
};
export const setSlot = (s: Slot, v: string): void => {
  (s.o as Record<string | number, unknown>)[s.k] = v;
};

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function str(out: Slot[], o: Obj | unknown[], k: string | number): void {
  if (typeof (o as Record<string | number, unknown>)[k] === 'string') out.push({ o, k });
}

/** A string, or every string of an array. */
function strOrList(out: Slot[], o: Obj, k: string): void {
  const v = o[k];
  if (typeof v === 'string') out.push({ o, k });
  else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) str(out, v, i);
}

/**
 * Every string and number leaf of a JSON value (tool-call inputs given as objects): the text a
 * serialized tool call carries, as an OpenAI-dialect call's `arguments` string carries it (a
 * phone or card number is often a JSON number). A masked number leaf becomes its masked string.
 */
function leaves(out: Slot[], o: Obj | unknown[], depth = 0): void {
  if (depth > 32) return;
  const keys = Array.isArray(o) ? o.keys() : Object.keys(o);
  for (const k of keys) {
    const v = (o as Record<string | number, unknown>)[k];
    if (typeof v === 'string' || typeof v === 'number') out.push({ o, k });
    else if (v !== null && typeof v === 'object') leaves(out, v as Obj | unknown[], depth + 1);
  }
}

/** String content, or the text of part/block arrays (with tool blocks). */
function content(out: Slot[], m: Obj, k = 'content'): void {
  const c = m[k];
  if (typeof c === 'string') out.push({ o: m, k });
  else if (Array.isArray(c)) for (const p of c) if (isObj(p)) part(out, p);
}

function part(out: Slot[], p: Obj): void {
  switch (p.type) {
    case 'tool_use':
      if (isObj(p.input)) leaves(out, p.input);
      return;
    case 'tool_result':
      content(out, p);
      return;
    case 'function_call':
      str(out, p, 'arguments');
      return;
    // A tool's output: a string, or (Responses) a list of input_text / input_image parts.
    case 'function_call_output':
    case 'custom_tool_call_output':
      content(out, p, 'output');
      return;
    case 'custom_tool_call':
      str(out, p, 'input');
      return;
    // Anthropic plain-text documents and search results: text the model reads like a text block.
    case 'document': {
      str(out, p, 'title');
      str(out, p, 'context');
      const src = p.source;
      if (isObj(src)) {
        if (src.type === 'text') str(out, src, 'data');
        else if (src.type === 'content') content(out, src);
      }
      return;
    }
    case 'search_result':
      str(out, p, 'title');
      content(out, p);
      return;
    case 'thinking':
    case 'redacted_thinking':
    case 'reasoning':
      return;
    default:
      str(out, p, 'text');
  }
}

function toolCalls(out: Slot[], m: Obj): void {
  const calls = m.tool_calls;
  if (Array.isArray(calls))
    for (const c of calls) {
      if (!isObj(c)) continue;
      if (isObj(c.function)) str(out, c.function, 'arguments');
      // A custom tool's call carries free-form text instead of JSON arguments.
      else if (isObj(c.custom)) str(out, c.custom, 'input');
    }
  if (isObj(m.function_call)) str(out, m.function_call, 'arguments');
}

/** Marks the slots `from`..end of `out` as the user's own content (or not) in `user`. */
function mark(user: boolean[] | undefined, out: Slot[], from: number, isUser: boolean): void {
  if (user !== undefined) for (let i = from; i < out.length; i++) user[i] = isUser;
}

/**
 * The input slots of a request body of `kind` (empty for kinds that are not scanned). With
 * `user`, `user[i]` tells whether slot `i` is the user's own content (a `user` message's text:
 * not a system prompt, instructions, assistant turns, tool calls or tool results).
 */
export function inputSlots(kind: RouteKind, body: Obj, user?: boolean[]): Slot[] {
  const out: Slot[] = [];
  switch (kind) {
    case 'chat':
      if (Array.isArray(body.messages))
        for (const m of body.messages)
          if (isObj(m)) {
            const n = out.length;
            content(out, m);
            mark(user, out, n, m.role === 'user');
            const t = out.length;
            toolCalls(out, m);
            mark(user, out, t, false);
          }
      break;
    case 'messages':
      if (typeof body.system === 'string') out.push({ o: body, k: 'system' });
      else if (Array.isArray(body.system)) for (const p of body.system) if (isObj(p)) part(out, p);
      mark(user, out, 0, false);
      if (Array.isArray(body.messages))
        for (const m of body.messages)
          if (isObj(m)) {
            const n = out.length;
            if (m.role === 'user' && Array.isArray(m.content)) {
              // Tool results ride in user turns: they are tool output, not the user's words.
              for (const p of m.content) {
                if (!isObj(p)) continue;
                const k = out.length;
                part(out, p);
                mark(user, out, k, p.type !== 'tool_result');
              }
            } else {
              content(out, m);
              mark(user, out, n, m.role === 'user');
            }
          }
      break;
    case 'responses':
      str(out, body, 'instructions');
      mark(user, out, 0, false);
      if (typeof body.input === 'string') {
        out.push({ o: body, k: 'input' });
        mark(user, out, out.length - 1, true);
      } else if (Array.isArray(body.input))
        for (const item of body.input)
          if (isObj(item)) {
            const n = out.length;
            const message = item.type === undefined || item.type === 'message';
            if (message) content(out, item);
            else part(out, item);
            mark(user, out, n, message && (item.role === undefined || item.role === 'user'));
          }
      break;
    case 'completions':
      strOrList(out, body, 'prompt');
      mark(user, out, 0, true);
      break;
    case 'embeddings':
      strOrList(out, body, 'input');
      mark(user, out, 0, true);
      break;
    case 'videos':
      str(out, body, 'prompt');
      mark(user, out, 0, true);
      break;
    default:
      break;
  }
  return out;
}

export type Dialect = 'openai' | 'anthropic' | 'responses';

export function dialectOf(kind: RouteKind): Dialect {
  return kind === 'messages' ? 'anthropic' : kind === 'responses' ? 'responses' : 'openai';
}

/** The output slots of a JSON success body in the caller's dialect. */
export function outputSlots(d: Dialect, body: Obj): Slot[] {
  const out: Slot[] = [];
  if (d === 'anthropic') {
    if (Array.isArray(body.content)) for (const b of body.content) if (isObj(b)) part(out, b);
    return out;
  }
  if (d === 'responses') {
    str(out, body, 'output_text');
    if (Array.isArray(body.output)) for (const item of body.output) if (isObj(item)) responseItem(out, item);
    return out;
  }
  if (Array.isArray(body.choices))
    for (const c of body.choices) {
      if (!isObj(c)) continue;
      str(out, c, 'text');
      if (isObj(c.message)) {
        content(out, c.message);
        toolCalls(out, c.message);
      }
    }
  return out;
}

/** A Responses output item: message parts, function-call arguments, custom tool-call input (reasoning excluded). */
export function responseItem(out: Slot[], item: Obj): void {
  if (item.type === 'message') content(out, item);
  else if (item.type === 'function_call') str(out, item, 'arguments');
  else if (item.type === 'custom_tool_call') str(out, item, 'input');
}
