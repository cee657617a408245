/**
 * The OpenAI chat shapes the dialect translators read and write, restated structurally (only the
 * fields they touch). Everything is optional: upstream bodies are read leniently.
 */
import { randomBytes } from 'node:crypto';

export type Json = Record<string, unknown>;

export interface ChatToolCall {
  readonly index?: number;
  readonly id?: string;
  readonly type?: string;
  readonly function?: { readonly name?: string; readonly arguments?: string };
}

export interface ChatMessage {
  readonly role?: string;
  readonly content?: unknown;
  readonly tool_calls?: readonly ChatToolCall[];
  readonly reasoning_content?: unknown;
}

export interface ChatDelta {
  readonly role?: string;
  readonly content?: string | null;
  readonly tool_calls?: readonly ChatToolCall[];
  readonly reasoning_content?: string | null;
}

export interface ChatChunk {
  readonly id?: string;
  readonly choices?: readonly {
    readonly index?: number;
    readonly delta?: ChatDelta;
    readonly finish_reason?: string | null;
  }[];
  readonly usage?: unknown;
}

export interface ChatCompletion {
  readonly id?: string;
  readonly created?: number;
  readonly choices?: readonly { readonly message?: ChatMessage; readonly finish_reason?: string | null }[];
  readonly usage?: unknown;
}

export function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A random lower-case hex id body (`msg_<hex>`, `resp_<hex>`). */
export function hexId(bytes = 16): string {
  return randomBytes(bytes).toString('hex');
}

/** The text of a chat message content: a string, or the concatenated text parts. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let s = '';
  for (const p of content) if (isObject(p) && typeof p.text === 'string') s += p.text;
  return s;
}
