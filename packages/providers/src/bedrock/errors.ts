/**
 * Bedrock errors (providers.md §8, data-plane §7.4). The error kind is the AWS exception name,
 * taken from, in order: the `x-amzn-errortype` header (`ValidationException:http://…`), the body's
 * `__type` (`com.amazon.coral…#ValidationException`), or — when neither is there (a proxy in
 * between, a stripped header) — the name AWS documents for the HTTP status. The message is the
 * body's `message` / `Message`, else the raw body (≤ 1024 bytes).
 *
 * In-band stream exceptions (event-stream `:message-type: exception`) use the same table; their
 * lower-camel `:exception-type` (`throttlingException`) is normalised to the documented name and
 * given the status AWS documents for it, so a failure before the stream commits is answered like
 * the same error over plain HTTP.
 */
import type { UpstreamErrorInfo, UpstreamHeaders } from '../contract.js';
import { truncateBytes } from '../shared/errors.js';
import { parseJsonObject } from '../shared/json.js';

const CODES: Readonly<Record<string, string>> = {
  ThrottlingException: 'rate_limit_exceeded',
  ServiceQuotaExceededException: 'insufficient_quota',
  AccessDeniedException: 'permission_denied',
  ResourceNotFoundException: 'model_not_found',
  ModelNotReadyException: 'model_not_ready',
  ModelTimeoutException: 'timeout',
  ModelStreamErrorException: 'stream_error',
  ModelErrorException: 'model_error',
  ServiceUnavailableException: 'overloaded',
};

/** HTTP status AWS documents per exception (used for in-band exceptions). */
const STATUS: Readonly<Record<string, number>> = {
  ValidationException: 400,
  ServiceQuotaExceededException: 400,
  AccessDeniedException: 403,
  UnrecognizedClientException: 403,
  ResourceNotFoundException: 404,
  ModelTimeoutException: 408,
  ModelErrorException: 424,
  ModelStreamErrorException: 424,
  ThrottlingException: 429,
  ModelNotReadyException: 429,
  InternalServerException: 500,
  ServiceUnavailableException: 503,
};

const BY_STATUS: Readonly<Record<number, string>> = {
  400: 'ValidationException',
  403: 'AccessDeniedException',
  404: 'ResourceNotFoundException',
  408: 'ModelTimeoutException',
  424: 'ModelErrorException',
  429: 'ThrottlingException',
  500: 'InternalServerException',
  503: 'ServiceUnavailableException',
};

const NAME = /^[A-Za-z][A-Za-z0-9]{0,127}$/;

/** `throttlingException` / `ValidationException:http://…` / `a.b#X` → `ThrottlingException`. */
export function normaliseExceptionName(raw: string): string | undefined {
  let n = raw.trim();
  const colon = n.indexOf(':');
  if (colon >= 0) n = n.slice(0, colon);
  const hash = n.lastIndexOf('#');
  if (hash >= 0) n = n.slice(hash + 1);
  if (!NAME.test(n)) return undefined;
  return n[0]?.toUpperCase() + n.slice(1);
}

function header(headers: UpstreamHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  return Array.isArray(v) ? v[0] : v;
}

export function bedrockErrorInfo(
  name: string | undefined,
  message: string,
  status?: number,
): UpstreamErrorInfo {
  const code = name ? CODES[name] : undefined;
  return {
    message,
    ...(name ? { kind: name } : {}),
    ...(code ? { code } : {}),
    ...(status !== undefined ? { status } : {}),
  };
}

export function parseBedrockError(
  status: number,
  text: string,
  headers?: UpstreamHeaders,
): UpstreamErrorInfo {
  const body = parseJsonObject(text);
  const fromHeader = header(headers, 'x-amzn-errortype');
  const fromBody = typeof body?.__type === 'string' ? body.__type : undefined;
  const name =
    (fromHeader && normaliseExceptionName(fromHeader)) ||
    (fromBody && normaliseExceptionName(fromBody)) ||
    BY_STATUS[status];
  const m = body?.message ?? body?.Message;
  const trimmed = text.trim();
  const message =
    typeof m === 'string' && m !== ''
      ? truncateBytes(m)
      : trimmed !== ''
        ? truncateBytes(trimmed)
        : 'upstream returned an error without a body';
  return bedrockErrorInfo(name, message);
}

/** An event-stream exception frame (`:exception-type` + JSON `{message}` payload). */
export function streamExceptionInfo(rawName: string, payload: string): UpstreamErrorInfo {
  const name = normaliseExceptionName(rawName) ?? 'UnknownException';
  const m = parseJsonObject(payload)?.message;
  const message = typeof m === 'string' && m !== '' ? truncateBytes(m) : `upstream stream failed: ${name}`;
  return bedrockErrorInfo(name, message, STATUS[name] ?? 502);
}
