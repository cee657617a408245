/**
 * `POST /v1/messages` (Anthropic Messages API in) and `POST /v1/messages/count_tokens`.
 *
 * Only the body rules live here; everything else is the shared pipeline (`pipeline/run.ts`):
 * auth (Bearer or `x-api-key`), model resolution, ACL, CIDRs, interceptors, the attempt loop. Which
 * targets get the native passthrough and which the bridge is the dialect's decision
 * (`@aisix/providers` dialects). Every error on these paths is rendered in the Anthropic envelope
 * by `sendError` (it keys on the `/v1/messages` path prefix).
 *
 * The cross-provider body checks (a well-formed `messages` array) run in the bridge, because the
 * native passthrough forwards the body without further validation.
 */
import { anthropicCountTokensDialect, anthropicMessagesDialect } from '@aisix/providers';
import type { EndpointSpec } from '../pipeline/run.js';

const noExtraRules = (): undefined => undefined;

export const messages: EndpointSpec = {
  endpoint: 'chat',
  validate: noExtraRules,
  streams: true,
  dialect: anthropicMessagesDialect,
};

/** Anthropic-speaking targets only (others get 400); never streams. */
export const countTokens: EndpointSpec = {
  endpoint: 'chat',
  validate: noExtraRules,
  streams: false,
  dialect: anthropicCountTokensDialect,
};
