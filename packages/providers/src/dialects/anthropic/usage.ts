/**
 * Usage and in-band errors on the Anthropic wire, as the native passthrough reads them:
 * `input_tokens` / `output_tokens` / cache counters, max-so-far (some relays repeat or only
 * report input tokens in `message_delta`), total = input + output + cache creation + cache read.
 */
import type { Usage } from '../../contract.js';
import { maxInto } from '../../shared/usage.js';
import { isObject } from '../shared/chat-types.js';

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

export function readAnthropicUsage(usage: unknown, into: Usage): void {
  if (!isObject(usage)) return;
  const prompt = Math.max(num(usage.input_tokens), into.prompt_tokens);
  const completion = Math.max(num(usage.output_tokens), into.completion_tokens);
  const creation = Math.max(num(usage.cache_creation_input_tokens), into.cache_creation_tokens);
  const read = Math.max(num(usage.cache_read_input_tokens), into.cache_read_tokens);
  maxInto(into, {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion + creation + read,
    cached_prompt_tokens: 0,
    reasoning_tokens: 0,
    cache_creation_tokens: creation,
    cache_read_tokens: read,
  });
}
