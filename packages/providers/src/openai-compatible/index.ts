/**
 * The generic OpenAI-compatible family (`pk.adapter: openai`): Groq, Mistral, Together,
 * OpenRouter, xAI, vLLM, Ollama, Gemini's OpenAI endpoint, ... need no code of their own.
 * Reasoning fields (`reasoning_content`, `reasoning`) and DeepSeek cache counters are handled by
 * the shared base, and bodies pass through, so vendor extras survive.
 */
import { createOpenAiCompatibleAdapter } from '../shared/openai-base.js';

export const openaiCompatibleAdapter = createOpenAiCompatibleAdapter({
  id: 'openai-compatible',
  realtime: true,
});
