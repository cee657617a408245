/**
 * How one failed upstream attempt is described to the retry loop: the caller-facing error, and
 * whether another attempt may follow (data-plane §8.3): other 4xx stop everything; 5xx (and 3xx:
 * redirects are not followed, a bad gateway answer), timeouts, transport and decode failures are
 * retryable; 429 and extra statuses only when the group opts in.
 */
import type { UpstreamErrorInfo } from '@aisix/providers';
import { errors, type GatewayError, retryAfterSeconds } from '../errors.js';
import { describeTransportError } from './client.js';

export interface AttemptFailure {
  readonly error: GatewayError;
  readonly retryable: boolean;
  readonly timeout: boolean;
  /** Upstream HTTP status, when there was one. */
  readonly status?: number;
  /**
   * The status an in-band stream error embedded (`{"error":{"code":500}}` in a 200 stream):
   * cooldown reads it against `trigger_statuses` (data-plane §8.6); it is not an HTTP status.
   */
  readonly inBandStatus?: number;
  /** Upstream `Retry-After` in ms (integer seconds form only). */
  readonly retryAfterMs?: number;
  /** Log-only detail (never sent to the caller). */
  readonly detail?: string;
  /** Refused by the gateway itself (a target over its own rate limit), not by the upstream. */
  readonly local?: true;
}

/**
 * How an attempt ended. A failure with `committed` came after the response was committed (a
 * stream's 200 went out, data-plane §6.5): it is not retried nor failed over (the caller already
 * has its answer, ended by an error frame), but it is still a failed attempt for the target's
 * health and cooldown (§8.6). The attempt served the response: its usage counts.
 */
export type AttemptResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly failure: AttemptFailure; readonly committed?: true };

/** The attempt produced the response the caller got (a success, or a failure after commit). */
export const served = (r: AttemptResult): boolean => r.ok || r.committed === true;

/** Statuses a routing group opts into retrying (`retry_on_429`, `fallback_on_statuses`). */
export interface RetryPolicy {
  readonly retryOn429: boolean;
  readonly extraStatuses: readonly number[];
}

export const DIRECT_POLICY: RetryPolicy = { retryOn429: false, extraStatuses: [] };

export function statusFailure(
  status: number,
  info: UpstreamErrorInfo,
  retryAfterHeader: string | string[] | undefined,
  policy: RetryPolicy,
): AttemptFailure {
  const retryAfter = retryAfterSeconds(retryAfterHeader);
  const retryAfterMs = retryAfter !== undefined ? Number(retryAfter) * 1000 : undefined;
  // 5xx, and any other non-2xx that is not a 4xx (a redirect the gateway does not follow): the
  // upstream failed to answer, 502 (§7.3 carries only 4xx through as they are).
  if (status >= 500 || status < 400) {
    return {
      error: errors.upstream5xx(status),
      retryable: true,
      timeout: false,
      status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
  }
  const retryable = (status === 429 && policy.retryOn429) || policy.extraStatuses.includes(status);
  return {
    error: errors.upstream4xx(status, info, retryAfter),
    retryable,
    timeout: false,
    status,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

/**
 * An in-band upstream error (a stream's `{"error": ...}` event, or the same object as a 2xx body):
 * an embedded 4xx is answered and retried like that status over HTTP (data-plane §8.3: "same as
 * its embedded status"); a 5xx or no status is a retryable 502 `upstream_error` with the
 * upstream's message, its status kept for cooldown (§8.6).
 */
export function inBandFailure(info: UpstreamErrorInfo, policy: RetryPolicy): AttemptFailure {
  const status = info.status;
  if (status !== undefined && status < 500) return statusFailure(status, info, undefined, policy);
  return {
    error: errors.inBandUpstream(info),
    retryable: true,
    timeout: false,
    ...(status !== undefined ? { inBandStatus: status } : {}),
  };
}

export function timeoutFailure(ms: number): AttemptFailure {
  return { error: errors.timeout(ms), retryable: true, timeout: true };
}

/** The caller went away and the gateway abandoned the attempt: not the upstream's failure. */
export function clientGoneFailure(): AttemptFailure {
  return { error: errors.clientDisconnected(), retryable: false, timeout: false };
}

export function transportFailure(err: unknown): AttemptFailure {
  return { error: errors.transport(), retryable: true, timeout: false, detail: describeTransportError(err) };
}

export function decodeFailure(message: string): AttemptFailure {
  return { error: errors.decode(message), retryable: true, timeout: false };
}

/**
 * A translator threw on what the upstream sent (a shape it did not expect): the upstream's answer
 * was unreadable, so it is a decode failure (data-plane §7.3), never a gateway exception. The
 * exception text is for the log only.
 */
export function translatorThrew(err: unknown): AttemptFailure {
  return {
    ...decodeFailure('upstream returned an unparseable answer'),
    detail: err instanceof Error ? err.message : String(err),
  };
}

/**
 * How often one target is tried again (data-plane §8.3): its own `retries` (or its group's), else
 * the deployment's `upstream.retries`, which never retries a timeout (`fromDefault`).
 */
export interface RetryBudget {
  readonly n: number;
  readonly fromDefault: boolean;
}

/** The deployment's budget unless the Model (or group) set its own `retries`. */
export function retryBudget(own: number | undefined, deployment: number): RetryBudget {
  return own === undefined ? { n: deployment, fromDefault: true } : { n: own, fromDefault: false };
}

/** Whether failure `f` of try `attempt` (0-based) of one target is tried again under `b`. */
export function retryAgain(f: AttemptFailure, attempt: number, b: RetryBudget): boolean {
  return f.retryable && attempt < b.n && !(f.timeout && b.fromDefault);
}

/**
 * The wait before retry `n` (1-based) of one target: the upstream's Retry-After when it asks for
 * at most 5 s, else 250 ms doubling up to 2 s; plus up to 250 ms of jitter (data-plane §8.3).
 */
export function backoffMs(
  n: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const jitter = random() * 250;
  if (retryAfterMs !== undefined && retryAfterMs > 0 && retryAfterMs <= 5000) return retryAfterMs + jitter;
  return Math.min(250 * 2 ** (n - 1), 2000) + jitter;
}
