/**
 * Outbound OpenAI-wire request bodies: the caller's body with `model` set to the upstream id,
 * `stream` forced to the call mode, `stream_options.include_usage` injected on streaming calls the
 * caller left without `stream_options` (so usage is always counted), then the ProviderKey body
 * overrides in their fixed order (data-plane §5.6).
 *
 * Everything else the caller sent is forwarded verbatim (forward compatibility: unknown fields
 * are never rejected or dropped).
 */
import type { Endpoint, ProviderKeyView } from '../contract.js';

type Body = Record<string, unknown>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `param_renames`: moves top-level keys to their new names. */
function applyRenames(body: Body, renames: Readonly<Record<string, string>>): void {
  for (const [from, to] of Object.entries(renames)) {
    if (from === to || !Object.hasOwn(body, from) || typeof to !== 'string' || to === '') continue;
    body[to] = body[from];
    delete body[from];
  }
}

/** `param_constraints`: clamps a numeric `temperature` into [min, max]. */
function clampTemperature(body: Body, min: number | null | undefined, max: number | null | undefined): void {
  const t = body.temperature;
  if (typeof t !== 'number') return;
  let v = t;
  if (typeof min === 'number' && v < min) v = min;
  if (typeof max === 'number' && v > max) v = max;
  body.temperature = v;
}

/** `content_list_to_string`: a message whose content is only text parts becomes one string. */
function flattenContentLists(body: Body): void {
  const messages = body.messages;
  if (!Array.isArray(messages)) return;
  body.messages = messages.map((m: unknown) => {
    if (!isPlainObject(m) || !Array.isArray(m.content)) return m;
    const parts = m.content as unknown[];
    if (!parts.every((p) => isPlainObject(p) && p.type === 'text' && typeof p.text === 'string')) return m;
    return { ...m, content: parts.map((p) => (p as { text: string }).text).join('') };
  });
}

/** Applies the ProviderKey body overrides in place. */
export function applyBodyOverrides(body: Body, pk: ProviderKeyView): void {
  const req = pk.request;
  if (req) {
    if (req.param_renames) applyRenames(body, req.param_renames);
    if (req.param_constraints) {
      clampTemperature(body, req.param_constraints.temperature_min, req.param_constraints.temperature_max);
    }
    if (isPlainObject(req.default_body_fields)) {
      for (const [k, v] of Object.entries(req.default_body_fields)) if (!Object.hasOwn(body, k)) body[k] = v;
    }
  }
  if (pk.response?.content_list_to_string) flattenContentLists(body);
}

/** Builds the outbound OpenAI-wire body object (a shallow copy; the caller's body is untouched). */
export function buildOpenAiBody(
  endpoint: Endpoint,
  source: Readonly<Body>,
  upstreamModel: string,
  stream: boolean,
  pk: ProviderKeyView,
): Body {
  const body: Body = { ...source, model: upstreamModel };
  if (endpoint !== 'embeddings') {
    body.stream = stream;
    if (stream && body.stream_options === undefined) body.stream_options = { include_usage: true };
  }
  applyBodyOverrides(body, pk);
  return body;
}
