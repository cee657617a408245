/**
 * Upstream error parsing per wire (providers.md §8) and the caller-facing `code` derivation
 * (data-plane §7.4). Every path tries the wire's parser regardless of Content-Type (some
 * providers label JSON errors `text/plain`), truncates every parsed string to 1024 bytes, and
 * falls back to the raw body text as the message.
 *
 * The caller-facing envelope (status, `type: upstream_error`) is rendered by the gateway.
 */
import type { ErrorWire, UpstreamErrorInfo } from '../contract.js';

export const MAX_ERROR_STRING_BYTES = 1024;

/** Truncates to ≤ 1024 UTF-8 bytes on a character boundary, appending `…` when cut. */
export function truncateBytes(s: string, max = MAX_ERROR_STRING_BYTES): string {
  // A UTF-16 unit never takes more than 3 UTF-8 bytes, so short strings skip the byte count.
  if (s.length <= max / 3 || Buffer.byteLength(s) <= max) return s;
  let cut = Buffer.from(s).subarray(0, max).toString('utf8');
  if (cut.endsWith('\uFFFD')) cut = cut.slice(0, -1);
  return `${cut}…`;
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length > 0 ? truncateBytes(v) : undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

const ANTHROPIC_CODES: Readonly<Record<string, string>> = {
  authentication_error: 'invalid_api_key',
  permission_error: 'permission_denied',
  not_found_error: 'model_not_found',
  request_too_large: 'request_too_large',
  rate_limit_error: 'rate_limit_exceeded',
  overloaded_error: 'overloaded',
};

const VERTEX_CODES: Readonly<Record<string, string>> = {
  RESOURCE_EXHAUSTED: 'rate_limit_exceeded',
  PERMISSION_DENIED: 'permission_denied',
  UNAUTHENTICATED: 'invalid_api_key',
  NOT_FOUND: 'model_not_found',
  UNAVAILABLE: 'overloaded',
  DEADLINE_EXCEEDED: 'timeout',
};

const AZURE_CODES: Readonly<Record<string, string>> = {
  DeploymentNotFound: 'model_not_found',
  ResponsibleAIPolicyViolation: 'content_policy_violation',
  content_filter: 'content_policy_violation',
};

function rawFallback(text: string): UpstreamErrorInfo {
  const t = text.trim();
  return { message: t.length > 0 ? truncateBytes(t) : 'upstream returned an error without a body' };
}

/** Embedded HTTP status: a numeric (or numeric string) code in 400..599. */
function embeddedStatus(code: unknown): number | undefined {
  const n =
    typeof code === 'number' ? code : typeof code === 'string' && /^\d{3}$/.test(code) ? Number(code) : NaN;
  return n >= 400 && n <= 599 ? n : undefined;
}

/**
 * An in-band stream error (`data: {"error":{...}}`, data-plane §6.2): a code that is the embedded
 * HTTP status, numeric or numeric string, is the status and not also the caller's `code`
 * (an HTTP error body keeps its string code verbatim, §7.4).
 */
export function parseOpenAiInBandError(data: string): UpstreamErrorInfo {
  const info = parseOpenAiWireError(data);
  if (info.status === undefined || info.code !== String(info.status)) return info;
  const { code: _status, ...rest } = info;
  return rest;
}

/** `{error:{message,type,code,param}}` or `{error:"..."}` (OpenAI wire, Azure, Gemini-compat).
 * Gemini's OpenAI-compatible endpoint wraps its Google error in a one-element array
 * (`[{error:{code, message, status}}]`); that shape is unwrapped first. */
export function parseOpenAiWireError(text: string, wire: 'openai' | 'azure' = 'openai'): UpstreamErrorInfo {
  const parsed = tryJson(text);
  const root = obj(Array.isArray(parsed) && parsed.length === 1 ? parsed[0] : parsed);
  if (!root) return rawFallback(text);
  const e = root.error;
  if (typeof e === 'string') return { message: truncateBytes(e) };
  const err = obj(e);
  if (!err) {
    const m = str(root.message);
    return m ? { message: m } : rawFallback(text);
  }
  const message = str(err.message) ?? rawFallback(text).message;
  const kind = str(err.type) ?? str(err.status);
  const status = embeddedStatus(err.code);
  // A numeric code is stringified (providers.md §8: OpenRouter answers `{"code":402}`). In a
  // stream, a code that is an HTTP status is the embedded status instead
  // (`parseOpenAiInBandError`, data-plane §6.2).
  const rawCode =
    typeof err.code === 'number' ? (Number.isFinite(err.code) ? String(err.code) : undefined) : str(err.code);
  const code = wire === 'azure' && rawCode ? (AZURE_CODES[rawCode] ?? rawCode) : rawCode;
  const param = str(err.param);
  return {
    message,
    ...(kind ? { kind } : {}),
    ...(code ? { code } : {}),
    ...(param ? { param } : {}),
    ...(status ? { status } : {}),
  };
}

/** `{type:"error", error:{type, message}}` (Anthropic wire). */
export function parseAnthropicWireError(text: string): UpstreamErrorInfo {
  const err = obj(obj(tryJson(text))?.error);
  if (!err) return rawFallback(text);
  const message = str(err.message) ?? rawFallback(text).message;
  const kind = str(err.type);
  const code = kind ? ANTHROPIC_CODES[kind] : undefined;
  return { message, ...(kind ? { kind } : {}), ...(code ? { code } : {}) };
}

/** `{error:{code:int, message, status}}` (Google / Vertex wire). */
export function parseVertexWireError(text: string): UpstreamErrorInfo {
  const err = obj(obj(tryJson(text))?.error);
  if (!err) return rawFallback(text);
  const message = str(err.message) ?? rawFallback(text).message;
  const kind = str(err.status);
  const code = kind ? VERTEX_CODES[kind] : undefined;
  return { message, ...(kind ? { kind } : {}), ...(code ? { code } : {}) };
}

/** Parses an upstream error body with the parser of `wire`. */
export function parseUpstreamError(wire: ErrorWire, text: string): UpstreamErrorInfo {
  switch (wire) {
    case 'openai':
      return parseOpenAiWireError(text);
    case 'azure':
      return parseOpenAiWireError(text, 'azure');
    case 'anthropic':
      return parseAnthropicWireError(text);
    case 'vertex':
      return parseVertexWireError(text);
    default:
      return rawFallback(text);
  }
}
