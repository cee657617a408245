/**
 * Body rules of the model endpoints; everything else is the shared pipeline (`pipeline/run.ts`).
 * Unknown fields are never rejected (forward compatibility); only the types the gateway itself
 * reads are checked; the message names the field and what it must be (`errors.badBody`).
 */
import { errors, type GatewayError } from '../errors.js';
import type { EndpointSpec } from '../pipeline/run.js';

// `developer` is OpenAI's successor of `system` (o1 and later); current SDKs send it, so it is
// accepted beside the reference's four roles (docs/decisions.md). Bridges treat it as `system`.
const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

function optionalNumber(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'number' && Number.isFinite(v));
}

function sampling(body: Record<string, unknown>): GatewayError | undefined {
  if (!optionalNumber(body.temperature)) return errors.badBody('`temperature` must be a number');
  if (!optionalNumber(body.top_p)) return errors.badBody('`top_p` must be a number');
  return undefined;
}

function validateChat(body: Record<string, unknown>): GatewayError | undefined {
  const messages = body.messages;
  if (messages === undefined) return errors.badBody('missing field `messages`');
  if (!Array.isArray(messages)) return errors.badBody('`messages` must be an array');
  if (messages.length === 0) return errors.invalidBody('messages array must not be empty');
  for (let i = 0; i < messages.length; i++) {
    const m: unknown = messages[i];
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      return errors.badBody(`\`messages[${i}]\` must be an object`);
    }
    const msg = m as Record<string, unknown>;
    if (typeof msg.role !== 'string' || !ROLES.has(msg.role)) {
      return errors.badBody(`\`messages[${i}].role\` must be one of ${[...ROLES].join(', ')}`);
    }
    const c = msg.content;
    if (c !== undefined && c !== null && typeof c !== 'string' && !Array.isArray(c))
      return errors.badBody(`\`messages[${i}].content\` must be a string or an array of parts`);
  }
  const bad = sampling(body);
  if (bad) return bad;
  const mt = body.max_tokens;
  if (mt !== undefined && mt !== null && !(Number.isInteger(mt) && (mt as number) >= 0))
    return errors.badBody('`max_tokens` must be a non-negative integer');
  return undefined;
}

function validateCompletions(body: Record<string, unknown>): GatewayError | undefined {
  return sampling(body);
}

function validateEmbeddings(body: Record<string, unknown>): GatewayError | undefined {
  const input = body.input;
  if (typeof input === 'string') return undefined;
  // Token-array inputs (numbers) are not supported.
  if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string')) return undefined;
  if (input === undefined) return errors.badBody('missing field `input`');
  return errors.badBody('`input` must be a string or a non-empty array of strings');
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
