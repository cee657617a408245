/**
 * `POST /v1/images/generations`: the caller's JSON with `model` rewritten (and the ProviderKey
 * body overrides), like completions; the upstream answer (URLs or `b64_json`) passes through
 * unchanged. OpenAI-compatible family only (others answer 501 from `checkPassthrough`).
 */
import { errors, type GatewayError } from '../errors.js';
import type { EndpointSpec } from '../pipeline/run.js';

function validateImages(body: Record<string, unknown>): GatewayError | undefined {
  if (typeof body.prompt !== 'string') return errors.badBody('`prompt` must be a string');
  return undefined;
}

export const imageGenerations: EndpointSpec = {
  endpoint: 'images_generations',
  validate: validateImages,
  streams: false,
};
