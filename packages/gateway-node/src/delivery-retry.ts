/**
 * Which answers of a telemetry destination are retried: one classifier per vendor, each stating
 * that vendor's documented rule, so the rule lives here and nowhere else. Transport failures
 * (no answer at all) are retried by every exporter and are not classified here.
 *
 * - OTLP/HTTP (the `otlp_http` exporter and the process tracer): the OTLP specification's
 *   "Failures" section: only 429, 502, 503 and 504 are retryable; every other 4xx and 5xx MUST
 *   NOT be retried. `Retry-After` SHOULD be honoured (see `retryAfterMs`).
 * - Datadog logs intake: its API reference lists 408 ("request timeout, retry after some
 *   time"), 429 and 5xx as retryable; other 4xx (400, 401, 403, 413) are final.
 * - Aliyun SLS PutLogs and the object stores: 429 and 5xx retryable, other 4xx final.
 */

/** `ok`: delivered; `retry`: try the batch again later; `drop`: give it up now. */
export type SendResult = 'ok' | 'retry' | 'drop';

/** What an exporter does with a batch its destination answered with `status`. */
export type RetryRule = (status: number) => SendResult;

const ok = (status: number) => status >= 200 && status < 300;

/** OTLP/HTTP: 429, 502, 503, 504 retried; any other non-2xx refused for good. */
export const otlpHttpRule: RetryRule = (status) => {
  if (ok(status)) return 'ok';
  return status === 429 || status === 502 || status === 503 || status === 504 ? 'retry' : 'drop';
};

/** Datadog logs intake: 408, 429 and 5xx retried. */
export const datadogRule: RetryRule = (status) => {
  if (ok(status)) return 'ok';
  return status === 408 || status === 429 || status >= 500 ? 'retry' : 'drop';
};

/** Aliyun SLS and the object stores: 429 and 5xx retried. */
export const defaultRule: RetryRule = (status) => {
  if (ok(status)) return 'ok';
  return status === 429 || status >= 500 ? 'retry' : 'drop';
};

/** The longest a `Retry-After` is waited (a longer one is cut to this). */
export const MAX_RETRY_AFTER_MS = 30_000;

/**
 * The wait a `Retry-After` header asks for (delay-seconds or an HTTP-date), in ms, capped at
 * `MAX_RETRY_AFTER_MS`; undefined when absent or unreadable.
 */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = (Array.isArray(header) ? header[0] : header)?.trim();
  if (v === undefined || v === '') return undefined;
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}
