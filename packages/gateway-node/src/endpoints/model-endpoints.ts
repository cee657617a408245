/**
 * Body rules of the model endpoints; everything else is the shared pipeline (`pipeline/run.ts`).
 * Unknown fields are never rejected (forward compatibility); only the types the gateway itself
 * reads are checked, all answered with the one `invalid JSON request body` message.
 */
import { errors, type GatewayError } from '../errors.js';
import type { EndpointSpec } from '../pipeline/run.js';

// `developer` is OpenAI's successor of `system` (o1 and later); current SDKs send it, so it is
// accepted beside the reference's four roles (docs/decisions.md). Bridges treat it as `system`.
const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

function optionalNumber(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'number' && Number.isFinite(v));
}

function validateChat(body: Record<string, unknown>): GatewayError | undefined {
  const messages = body.messages;
  if (!Array.isArray(messages)) return errors.invalidBody();
  if (messages.length === 0) return errors.invalidBody('messages array must not be empty');
  for (const m of messages) {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return errors.invalidBody();
    const msg = m as Record<string, unknown>;
    if (typeof msg.role !== 'string' || !ROLES.has(msg.role)) return errors.invalidBody();
    const c = msg.content;
    if (c !== undefined && c !== null && typeof c !== 'string' && !Array.isArray(c))
      return errors.invalidBody();
  }
  if (!optionalNumber(body.temperature) || !optionalNumber(body.top_p)) return errors.invalidBody();
  const mt = body.max_tokens;
  if (mt !== undefined && mt !== null && !(Number.isInteger(mt) && (mt as number) >= 0))
    return errors.invalidBody();
  return undefined;
}

function validateCompletions(body: Record<string, unknown>): GatewayError | undefined {
  if (!optionalNumber(body.temperature) || !optionalNumber(body.top_p)) return errors.invalidBody();
  return undefined;
}

function validateEmbeddings(body: Record<string, unknown>): GatewayError | undefined {
  const input = body.input;
  if (typeof input === 'string') return undefined;
  // Token-array inputs (numbers) are not supported.
  if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string')) return undefined;
  return errors.invalidBody();
}

export const chatCompletions: EndpointSpec = { endpoint: 'chat', validate: validateChat, streams: true };
export const completions: EndpointSpec = {
  endpoint: 'completions',
  validate: validateCompletions,
  streams: true,
};
export const embeddings: EndpointSpec = {
  endpoint: 'embeddings',
  validate: validateEmbeddings,
  streams: false,
};
