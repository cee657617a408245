/**
 * The Gemini wire shared by Google AI Studio (../google-ai/) and Vertex AI (../vertex/): pure
 * OpenAI ⇄ Gemini translation for chat, streaming and embeddings, plus Google error parsing.
 * No URLs or credentials here; those belong to the vendor adapters.
 */
export {
  type EmbeddingInput,
  googleAiEmbeddingBody,
  readEmbeddingInput,
  transformGoogleEmbeddings,
  vertexEmbeddingBody,
} from './embeddings.js';
export { parseGeminiError } from './errors.js';
export { addDefaultFields, geminiChatBody, overriddenSource, pipelineHeaders } from './prepare.js';
export { type GeminiRequestResult, sanitizeSchema, toGeminiRequest } from './request.js';
export {
  geminiToChatCompletion,
  mapFinishReason,
  readGeminiUsage,
  transformGeminiChat,
} from './response.js';
export { GeminiStreamTranslator } from './stream.js';
export type * from './wire.js';
