/**
 * Outbound OpenAI-wire request bodies: the caller's body with `model` set to the upstream id,
 * `stream` forced to the call mode, `stream_options.include_usage` injected on streaming calls the
 * caller left without `stream_options` (so usage is always counted), then the ProviderKey body
 * overrides in their fixed order (data-plane §5.6).
 *
 * Everything else the caller sent is forwarded verbatim (forward compatibility: unknown fields
 * are never rejected or dropped).
 */
import type { Endpoint, PrepareInput, ProviderKeyView } from '../contract.js';
import { findKeyValue } from './json-scan.js';

type Body = Record<string, unknown>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Body fields the gateway owns: `model` (the resolved upstream id: a caller must not pick another
 * one through a rename) and `stream` (the call mode the gateway reads the answer in). The key's
 * overrides never rename, move or add them.
 */
const GATEWAY_OWNED = new Set(['model', 'stream']);

/** `param_renames`: moves top-level keys to their new names. */
function applyRenames(body: Body, renames: Readonly<Record<string, string>>): void {
  for (const [from, to] of Object.entries(renames)) {
    if (from === to || !Object.hasOwn(body, from) || typeof to !== 'string' || to === '') continue;
    if (GATEWAY_OWNED.has(from) || GATEWAY_OWNED.has(to)) continue;
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
      for (const [k, v] of Object.entries(req.default_body_fields)) {
        if (!Object.hasOwn(body, k) && !GATEWAY_OWNED.has(k)) body[k] = v;
      }
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

/** Whether the ProviderKey changes OpenAI-wire bodies beyond `model` and `stream`. */
function overridesBody(pk: ProviderKeyView): boolean {
  const req = pk.request;
  if (pk.response?.content_list_to_string) return true;
  if (!req) return false;
  return (
    (req.param_renames !== undefined &&
      req.param_renames !== null &&
      Object.keys(req.param_renames).length > 0) ||
    (req.param_constraints !== undefined && req.param_constraints !== null) ||
    (isPlainObject(req.default_body_fields) && Object.keys(req.default_body_fields).length > 0)
  );
}

/**
 * Whether `quotedKey` occurs as an object key at most once anywhere in `text`. A caller's text
 * that repeats `model` or `stream` (`{"model":"not-allowed","model":"allowed"}`: JSON.parse keeps
 * the last) must not go out as it came: the upstream's parser may keep the first, or refuse the
 * duplicate. A nested key of the same name only costs the fast path.
 */
function keyAtMostOnce(text: string, quotedKey: string): boolean {
  const first = findKeyValue(text, quotedKey);
  return first === -1 || findKeyValue(text, quotedKey, first) === -1;
}

/**
 * Whether the text may spell a lower-case ASCII letter as a `\u00XX` escape (`"mod\u0065l"` is the
 * key `model` too, which the literal scans above cannot see). Serializers escape only control
 * characters, `"`, `\\`, HTML characters (`\u003c`) and non-ASCII, so an honest body almost never
 * takes the slow path for it; one indexOf when the text has no `\u00` at all.
 */
const ESCAPED_LETTER = /\\u00[67][0-9a-f]/i;

function mayEscapeLetters(text: string): boolean {
  return text.includes('\\u00') && ESCAPED_LETTER.test(text);
}

/** `raw` with `members` (`"k":v,` pairs) written first in its top-level object. */
function prepend(raw: string, members: string): string {
  const open = raw.indexOf('{');
  return `${raw.slice(0, open + 1)}${members}${raw.slice(open + 1)}`;
}

/**
 * The outbound OpenAI-wire body as text (`buildOpenAiBody`, serialized). When the caller's own
 * text is at hand (`input.raw`), its `model` already is the upstream id, no ProviderKey override
 * applies and it names `model` and `stream` at most once (also counting keys spelled with
 * escapes), that text goes out as it came, with
 * only the fields the call mode needs written in front (`"stream":false` when absent on a unary
 * call, `stream_options` on a stream without them): no second serialization of a long prompt,
 * and numbers and key order reach the upstream exactly as the caller wrote them.
 */
export function openAiBodyText(input: PrepareInput, upstreamModel = input.upstreamModel): string {
  const { body, raw, endpoint, stream, providerKey: pk } = input;
  if (
    raw !== undefined &&
    raw.body === body &&
    body.model === upstreamModel &&
    !overridesBody(pk) &&
    keyAtMostOnce(raw.text, '"model"') &&
    keyAtMostOnce(raw.text, '"stream"') &&
    !mayEscapeLetters(raw.text)
  ) {
    if (endpoint === 'embeddings') return raw.text;
    if (body.stream === stream) {
      if (!stream || body.stream_options !== undefined) return raw.text;
      return prepend(raw.text, '"stream_options":{"include_usage":true},');
    }
    if (body.stream === undefined && !stream) return prepend(raw.text, '"stream":false,');
  }
  return JSON.stringify(buildOpenAiBody(endpoint, body, upstreamModel, stream, pk));
}
