/**
 * @aisix/providers — upstream adapters behind one contract.
 *
 * - `contract.ts`: the adapter interface, capability flags and `checkCapability` (the one place
 *   that decides "not supported").
 * - `registry.ts`: vendor-specific adapter first (`pk.provider`), then the wire family
 *   (`pk.adapter`). `defaultRegistry` is what the gateway uses.
 * - `shared/`: SSE decoder, upstream error parsing, URL rules, header pipeline, body overrides
 *   and the OpenAI-compatible base.
 *
 * Adding a family (Anthropic, Vertex, Azure, Bedrock): a folder with its adapter, registered in
 * `defaultRegistry` below. Nothing in the gateway changes.
 */
import { anthropicAdapter } from './anthropic/index.js';
import { azureOpenAiAdapter } from './azure-openai/index.js';
import { bedrockAdapter } from './bedrock/index.js';
import { deepseekAdapter } from './deepseek/index.js';
import { googleAiAdapter } from './google-ai/index.js';
import { openaiAdapter } from './openai/index.js';
import { openaiCompatibleAdapter } from './openai-compatible/index.js';
import { type AdapterRegistry, createRegistry } from './registry.js';
import { vertexAdapter } from './vertex/index.js';

export * as anthropic from './anthropic/index.js';
export * as azureOpenAi from './azure-openai/index.js';
export * as bedrock from './bedrock/index.js';
export * from './contract.js';
export * from './dialects/index.js';
export * as gemini from './gemini/index.js';
export * as googleAi from './google-ai/index.js';
export * from './registry.js';
export { parseUpstreamError, truncateBytes } from './shared/errors.js';
export { CREDENTIAL_HEADERS } from './shared/headers.js';
export { createOpenAiCompatibleAdapter } from './shared/openai-base.js';
export { prepareRaw } from './shared/raw.js';
export { SseDecoder, type SseHandler } from './shared/sse.js';
export { anthropicUrl, openAiUrl } from './shared/url.js';
export * as vertex from './vertex/index.js';
export * from './videos/index.js';
export {
  anthropicAdapter,
  azureOpenAiAdapter,
  bedrockAdapter,
  deepseekAdapter,
  googleAiAdapter,
  openaiAdapter,
  openaiCompatibleAdapter,
  vertexAdapter,
};

export const defaultRegistry: AdapterRegistry = createRegistry({
  vendors: {
    openai: { adapter: openaiAdapter },
    anthropic: { adapter: anthropicAdapter },
    deepseek: { adapter: deepseekAdapter, adapters: ['openai'] },
    // Native Gemini API only for keys without `adapter`; `adapter: openai` keeps Google's
    // OpenAI-compatible endpoint on the OpenAI family.
    gemini: { adapter: googleAiAdapter, adapters: [''] },
  },
  families: {
    openai: openaiCompatibleAdapter,
    vertex: vertexAdapter,
    'azure-openai': azureOpenAiAdapter,
    bedrock: bedrockAdapter,
    anthropic: anthropicAdapter,
  },
});
