/**
 * The Anthropic Messages ingress dialect (`/v1/messages`) and its token-counting sibling
 * (`/v1/messages/count_tokens`).
 *
 * A target "speaks Anthropic" when its Model's `provider` or its provider key's `adapter` is
 * `anthropic`: such targets get the native passthrough (`native.ts`). Every other target is
 * bridged through its family adapter with the pure translators in `request.ts`, `response.ts` and
 * `stream.ts`. Token counting has no bridge: other targets are refused with a 400.
 */

import type { DialectTarget, IngressDialect } from '../contract.js';
import type { BridgeCodec } from '../shared/bridge.js';
import { bridgeAdapter } from '../shared/bridge.js';
import { anthropicNativeCountTokens, anthropicNativeMessages } from './native.js';
import { anthropicToChat } from './request.js';
import { chatToAnthropic } from './response.js';
import { AnthropicEncoder } from './stream.js';

const VENDOR = 'anthropic';

export function speaksAnthropic(t: DialectTarget): boolean {
  return t.modelProvider === VENDOR || t.providerKey.adapter === VENDOR;
}

export const anthropicCodec: BridgeCodec = {
  id: 'anthropic-messages',
  toChat: anthropicToChat,
  fromChat: chatToAnthropic,
  encoder: (alias) => new AnthropicEncoder(alias),
};

export const anthropicMessagesDialect: IngressDialect = {
  id: 'anthropic-messages',
  select(target, family) {
    if (speaksAnthropic(target)) return { ok: true, adapter: anthropicNativeMessages };
    return family ? { ok: true, adapter: bridgeAdapter(family, anthropicCodec) } : undefined;
  },
};

export const anthropicCountTokensDialect: IngressDialect = {
  id: 'anthropic-count-tokens',
  select(target) {
    if (speaksAnthropic(target)) return { ok: true, adapter: anthropicNativeCountTokens };
    return {
      ok: false,
      error: {
        kind: 'invalid_config',
        message: 'token counting is only available for models served by an Anthropic-speaking provider',
      },
    };
  },
};
