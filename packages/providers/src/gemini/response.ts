/**
 * Gemini `generateContent` response → OpenAI `chat.completion` (providers.md §5), plus the pieces
 * the stream translator shares: finish-reason mapping, usage, tool-call ids.
 *
 * - each candidate → one choice (so `n` works): non-thought text → `content`, thought parts →
 *   `reasoning_content`, `functionCall` parts → `tool_calls` (upstream id when given, else a
 *   generated `call_…`); a call's `thoughtSignature` rides along as
 *   `extra_content.google.thought_signature`, where Google's own OpenAI-compatible endpoint puts
 *   it, so a caller that sends the assistant message back unchanged returns it (request.ts);
 * - `finishReason`: STOP → stop (tool_calls when the candidate called a function), MAX_TOKENS →
 *   length, the safety family → content_filter, anything else → stop;
 * - usage: completion = candidates + thoughts (OpenAI counts reasoning inside completion), cached
 *   = `cachedContentTokenCount`, reasoning = `thoughtsTokenCount`; missing counters are 0.
 * - no candidates but `promptFeedback.blockReason` → one empty choice with content_filter.
 */
import { randomBytes } from 'node:crypto';
import type { TransformResult, Usage } from '../contract.js';
import { emptyUsage } from '../contract.js';
import { parseJsonObject } from '../shared/json.js';
import type { GeminiCandidate, GeminiResponse, GeminiUsageMetadata } from './wire.js';

const FILTERED = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'LANGUAGE',
]);

export function mapFinishReason(reason: string | undefined, calledTool: boolean): string {
  if (reason === 'MAX_TOKENS') return 'length';
  if (reason !== undefined && FILTERED.has(reason)) return 'content_filter';
  return calledTool ? 'tool_calls' : 'stop';
}

export function newId(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

function n(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

export function readGeminiUsage(m: GeminiUsageMetadata | undefined): Usage {
  const u = emptyUsage();
  if (!m || typeof m !== 'object') return u;
  const thoughts = n(m.thoughtsTokenCount);
  u.prompt_tokens = n(m.promptTokenCount) + n(m.toolUsePromptTokenCount);
  u.completion_tokens = n(m.candidatesTokenCount) + thoughts;
  u.total_tokens = n(m.totalTokenCount) || u.prompt_tokens + u.completion_tokens;
  u.cached_prompt_tokens = n(m.cachedContentTokenCount);
  u.reasoning_tokens = thoughts;
  return u;
}

/** The OpenAI `usage` object for a caller body. */
export function openAiUsage(u: Usage): Record<string, unknown> {
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.total_tokens,
    ...(u.cached_prompt_tokens > 0
      ? { prompt_tokens_details: { cached_tokens: u.cached_prompt_tokens } }
      : {}),
    ...(u.reasoning_tokens > 0
      ? { completion_tokens_details: { reasoning_tokens: u.reasoning_tokens } }
      : {}),
  };
}

export interface OpenAiToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
  extra_content?: { google: { thought_signature: string } };
}

export interface CandidateOutput {
  text: string;
  reasoning: string;
  toolCalls: OpenAiToolCall[];
}

/** Splits a candidate's parts into text, reasoning and tool calls. */
export function candidateOutput(c: GeminiCandidate | undefined): CandidateOutput {
  const out: CandidateOutput = { text: '', reasoning: '', toolCalls: [] };
  const parts = c?.content?.parts;
  if (!Array.isArray(parts)) return out;
  for (const p of parts) {
    if (p === null || typeof p !== 'object') continue;
    if (typeof p.text === 'string') {
      if (p.thought === true) out.reasoning += p.text;
      else out.text += p.text;
    }
    const fc = p.functionCall;
    if (fc && typeof fc.name === 'string') {
      const call: OpenAiToolCall = {
        id: typeof fc.id === 'string' && fc.id !== '' ? fc.id : newId('call_'),
        type: 'function',
        function: { name: fc.name, arguments: JSON.stringify(fc.args ?? {}) },
      };
      if (typeof p.thoughtSignature === 'string' && p.thoughtSignature !== '')
        call.extra_content = { google: { thought_signature: p.thoughtSignature } };
      out.toolCalls.push(call);
    }
  }
  return out;
}

/** A candidate as Gemini sends it: an object (anything else is an undecodable answer). */
export function isCandidate(c: unknown): c is GeminiCandidate {
  return c !== null && typeof c === 'object' && !Array.isArray(c);
}

/** Maps a parsed Gemini response object to the caller's chat completion. */
export function geminiToChatCompletion(r: GeminiResponse, alias: string): TransformResult {
  const usage = readGeminiUsage(r.usageMetadata);
  const candidates = Array.isArray(r.candidates) ? r.candidates : [];
  if (!candidates.every(isCandidate))
    return { ok: false, message: 'upstream returned an unparseable body: a candidate is not an object' };
  const choices = candidates.map((c, i) => {
    const o = candidateOutput(c);
    const message: Record<string, unknown> = {
      role: 'assistant',
      content: o.text === '' && o.toolCalls.length > 0 ? null : o.text,
    };
    if (o.reasoning !== '') message.reasoning_content = o.reasoning;
    if (o.toolCalls.length > 0) message.tool_calls = o.toolCalls;
    return {
      index: typeof c.index === 'number' ? c.index : i,
      message,
      logprobs: null,
      finish_reason: mapFinishReason(c.finishReason, o.toolCalls.length > 0),
    };
  });
  if (choices.length === 0) {
    const blocked = typeof r.promptFeedback?.blockReason === 'string';
    choices.push({
      index: 0,
      message: { role: 'assistant', content: blocked ? null : '' },
      logprobs: null,
      finish_reason: blocked ? 'content_filter' : 'stop',
    });
  }
  const body = {
    id: typeof r.responseId === 'string' && r.responseId !== '' ? r.responseId : newId('chatcmpl-'),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: alias,
    choices,
    usage: openAiUsage(usage),
  };
  return { ok: true, body: JSON.stringify(body), usage };
}

/** Non-streaming chat body → caller body. */
export function transformGeminiChat(text: string, alias: string): TransformResult {
  const r = parseJsonObject(text);
  if (!r) return { ok: false, message: 'upstream returned an unparseable body: not a JSON object' };
  return geminiToChatCompletion(r as GeminiResponse, alias);
}
