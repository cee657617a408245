/**
 * The OpenAI Responses ingress dialect (`/v1/responses`). Models whose `provider` is OpenAI get
 * the verbatim passthrough to `<base>/responses` (`native.ts`); every other target is bridged
 * through its family adapter with the pure translators in `request.ts`, `response.ts` and
 * `stream.ts`.
 */
import type { IngressDialect } from '../contract.js';
import { type BridgeCodec, bridgeAdapter } from '../shared/bridge.js';
import { responsesVerbatim } from './native.js';
import { responsesEcho, responsesToChat } from './request.js';
import { chatToResponses } from './response.js';
import { ResponsesEncoder } from './stream.js';

const VERBATIM_VENDOR = 'openai';

export const responsesCodec: BridgeCodec = {
  id: 'openai-responses',
  toChat: responsesToChat,
  echo: responsesEcho,
  fromChat: chatToResponses,
  encoder: (alias, upstream, echo) => new ResponsesEncoder(alias, upstream, echo),
};

export const responsesDialect: IngressDialect = {
  id: 'openai-responses',
  select(target, family) {
    if (target.modelProvider === VERBATIM_VENDOR) return { ok: true, adapter: responsesVerbatim };
    return family ? { ok: true, adapter: bridgeAdapter(family, responsesCodec) } : undefined;
  },
};
