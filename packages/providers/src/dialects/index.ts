/**
 * Ingress dialects: Anthropic Messages (`/v1/messages`, `/v1/messages/count_tokens`) and OpenAI
 * Responses (`/v1/responses`), each native where the target speaks the dialect and bridged
 * through the target's family adapter everywhere else.
 */
export { anthropicCountTokensDialect, anthropicMessagesDialect, speaksAnthropic } from './anthropic/index.js';
export { anthropicToChat } from './anthropic/request.js';
export { chatToAnthropic } from './anthropic/response.js';
export { AnthropicEncoder } from './anthropic/stream.js';
export type { DialectChoice, DialectTarget, IngressDialect } from './contract.js';
export { responsesDialect } from './responses/index.js';
export { responsesToChat } from './responses/request.js';
export { chatToResponses } from './responses/response.js';
export { ResponsesEncoder } from './responses/stream.js';
