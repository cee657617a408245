/**
 * Claude on Bedrock, non-streaming: `/model/<id>/invoke` with an Anthropic Messages body
 * (providers.md §7). The translation is the Anthropic adapter's own (anthropic/request.ts and
 * anthropic/response.ts), so OpenAI → Claude behaves the same on api.anthropic.com, Vertex and
 * Bedrock. Bedrock's differences: no `model` in the body (it is in the URL), no `stream` field
 * (streaming goes through ConverseStream instead), and `anthropic_version: "bedrock-2023-05-31"`.
 */

import { toAnthropicRequest } from '../anthropic/request.js';
import { transformAnthropicText } from '../anthropic/response.js';
import type { TransformResult } from '../contract.js';

export const BEDROCK_ANTHROPIC_VERSION = 'bedrock-2023-05-31';

export type InvokeBodyResult =
  | { readonly ok: true; readonly body: Record<string, unknown> }
  | { readonly ok: false; readonly message: string };

/** An image block whose source is a URL: Bedrock's Messages body takes base64 sources only. */
function hasUrlImage(messages: unknown): boolean {
  if (!Array.isArray(messages)) return false;
  for (const m of messages) {
    const content = (m as { content?: unknown } | null)?.content;
    if (!Array.isArray(content)) continue;
    for (const b of content) {
      const src = (b as { type?: unknown; source?: { type?: unknown } } | null) ?? {};
      if (src.type === 'image' && src.source?.type === 'url') return true;
    }
  }
  return false;
}

export function toBedrockAnthropicBody(body: Readonly<Record<string, unknown>>): InvokeBodyResult {
  const r = toAnthropicRequest(body, undefined, { stream: false });
  if (!r.ok) return r;
  // The same refusal as the Converse path (streams): the gateway does not fetch URLs.
  if (hasUrlImage(r.body.messages))
    return {
      ok: false,
      message:
        'request payload is invalid: bedrock accepts images only as base64 data: URLs (png, jpeg, gif, webp)',
    };
  const out: Record<string, unknown> = { anthropic_version: BEDROCK_ANTHROPIC_VERSION, ...r.body };
  delete out.stream;
  delete out.model;
  return { ok: true, body: out };
}

export function transformBedrockAnthropic(text: string, alias: string, nowSeconds: number): TransformResult {
  return transformAnthropicText(text, alias, nowSeconds);
}
