/**
 * DeepSeek on its OpenAI-compatible API (`pk.provider: deepseek` with `pk.adapter: openai`).
 * Reasoning arrives as `reasoning_content` (message and stream deltas) and passes through
 * verbatim; the shared stream relay counts it as output for time-to-first-token, and the usage
 * reader folds `prompt_cache_hit_tokens` into the cached counter. DeepSeek serves no embeddings,
 * rerank, image or audio endpoints, so those capabilities are refused up front (501) instead of
 * failing upstream.
 */
import { createOpenAiCompatibleAdapter } from '../shared/openai-base.js';

export const deepseekAdapter = createOpenAiCompatibleAdapter({
  id: 'deepseek',
  capabilities: { embeddings: false, rerank: false, imagesGenerations: false, audio: false },
});
