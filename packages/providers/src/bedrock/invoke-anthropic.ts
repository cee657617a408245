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

export function toBedrockAnthropicBody(body: Readonly<Record<string, unknown>>): InvokeBodyResult {
  const r = toAnthropicRequest(body, undefined, { stream: false });
  if (!r.ok) return r;
  const out: Record<string, unknown> = { anthropic_version: BEDROCK_ANTHROPIC_VERSION, ...r.body };
  delete out.stream;
  delete out.model;
  return { ok: true, body: out };
}

export function transformBedrockAnthropic(text: string, alias: string, nowSeconds: number): TransformResult {
  return transformAnthropicText(text, alias, nowSeconds);
}
