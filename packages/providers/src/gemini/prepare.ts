/**
 * The part of `prepare` Google AI Studio and Vertex share for Gemini models: the translated body
 * (with ProviderKey overrides) and the outbound header pipeline. The vendor adapter supplies the
 * URL and its credential header; this module never sees where a credential comes from.
 *
 * ProviderKey body overrides (data-plane §5.6) on a translated wire: `param_renames` and
 * `param_constraints` act on the caller's OpenAI body before translation (they name OpenAI
 * fields); `default_body_fields` adds top-level fields to the *Gemini* body, which is how an
 * operator sets `safetySettings`, `cachedContent` or `labels` for every call.
 */
import type { PrepareInput, ProviderKeyView } from '../contract.js';
import { applyBodyOverrides } from '../shared/body.js';
import { applyDefaultHeaders, forwardClientHeaders } from '../shared/headers.js';
import { toGeminiRequest } from './request.js';

type Obj = Record<string, unknown>;

/** Gateway-owned headers, then operator defaults, then forwarded client headers (§5.5). */
export function pipelineHeaders(
  input: PrepareInput,
  credential: Record<string, string>,
): Record<string, string> {
  const headers: Record<string, string> = {
    ...credential,
    'content-type': 'application/json',
    accept: input.stream ? 'text/event-stream' : 'application/json',
    'x-aisix-request-id': input.requestId,
    'user-agent': input.userAgent,
  };
  const pk = input.providerKey;
  applyDefaultHeaders(headers, pk.request?.default_headers, input.templateVars);
  forwardClientHeaders(headers, pk.request?.forward_client_headers, input);
  return headers;
}

/** The caller's body with the rename/clamp overrides applied (a copy). */
export function overriddenSource(body: Readonly<Obj>, pk: ProviderKeyView): Obj {
  const copy: Obj = { ...body };
  const req = pk.request;
  if (req?.param_renames || req?.param_constraints) {
    applyBodyOverrides(copy, {
      request: {
        ...(req.param_renames ? { param_renames: req.param_renames } : {}),
        ...(req.param_constraints ? { param_constraints: req.param_constraints } : {}),
      },
    });
  }
  return copy;
}

/** Adds `default_body_fields` the body lacks, in place; returns the body (typed with them). */
export function addDefaultFields<T extends object>(body: T, pk: ProviderKeyView): T & Obj {
  const d = pk.request?.default_body_fields;
  const missing: Obj = {};
  if (d !== null && typeof d === 'object' && !Array.isArray(d))
    for (const [k, v] of Object.entries(d)) if (!Object.hasOwn(body, k)) missing[k] = v;
  return Object.assign(body, missing);
}

export type GeminiBodyResult = { ok: true; body: string } | { ok: false; message: string };

/** The serialized `generateContent` body for a chat call. */
export function geminiChatBody(input: PrepareInput): GeminiBodyResult {
  const pk = input.providerKey;
  const t = toGeminiRequest(overriddenSource(input.body, pk), input.upstreamModel);
  if (!t.ok) return t;
  return { ok: true, body: JSON.stringify(addDefaultFields(t.request, pk)) };
}
