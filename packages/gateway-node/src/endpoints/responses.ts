/**
 * `POST /v1/responses` (OpenAI Responses API in). Only the body rules live here; the pipeline is
 * the shared one (`pipeline/run.ts`), and the dialect decides per target between the verbatim
 * passthrough (OpenAI models) and the bridge through the target's family adapter. Errors use the
 * OpenAI envelope.
 */
import { responsesDialect } from '@aisix/providers';
import type { EndpointSpec } from '../pipeline/run.js';

export const responses: EndpointSpec = {
  endpoint: 'chat',
  validate: () => undefined,
  streams: true,
  dialect: responsesDialect,
};
