/**
 * Usage extraction for the OpenAI wire (providers.md §1.3) and max-so-far accumulation across
 * stream chunks (data-plane §6.3: some providers report usage several times).
 */
import type { Usage } from '../contract.js';

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

function field(obj: unknown, key: string): unknown {
  return obj !== null && typeof obj === 'object' ? (obj as Record<string, unknown>)[key] : undefined;
}

/** Reads an OpenAI-wire `usage` object; missing counters are 0, never a parse failure. */
export function readOpenAiUsage(usage: unknown, into: Usage): void {
  if (usage === null || typeof usage !== 'object') return;
  const u = usage as Record<string, unknown>;
  const cached = num(field(u.prompt_tokens_details, 'cached_tokens')) || num(u.prompt_cache_hit_tokens);
  maxInto(into, {
    prompt_tokens: num(u.prompt_tokens),
    completion_tokens: num(u.completion_tokens),
    total_tokens: num(u.total_tokens),
    cached_prompt_tokens: cached,
    reasoning_tokens: num(field(u.completion_tokens_details, 'reasoning_tokens')),
    cache_creation_tokens: 0,
    cache_read_tokens: 0,
  });
}

/** Keeps the larger value of every counter. */
export function maxInto(into: Usage, u: Usage): void {
  if (u.prompt_tokens > into.prompt_tokens) into.prompt_tokens = u.prompt_tokens;
  if (u.completion_tokens > into.completion_tokens) into.completion_tokens = u.completion_tokens;
  if (u.total_tokens > into.total_tokens) into.total_tokens = u.total_tokens;
  if (u.cached_prompt_tokens > into.cached_prompt_tokens) into.cached_prompt_tokens = u.cached_prompt_tokens;
  if (u.reasoning_tokens > into.reasoning_tokens) into.reasoning_tokens = u.reasoning_tokens;
  if (u.cache_creation_tokens > into.cache_creation_tokens)
    into.cache_creation_tokens = u.cache_creation_tokens;
  if (u.cache_read_tokens > into.cache_read_tokens) into.cache_read_tokens = u.cache_read_tokens;
}
