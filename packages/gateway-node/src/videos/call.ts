/**
 * Provider calls of the videos surface and their retry loop. A single-model endpoint: the
 * Model's retry budget and the shared backoff (data-plane §8.3), no fail-over, a 429 or other
 * 4xx never retried, and a submit never replayed once the provider answered (a second paid
 * task). Every attempt is timed and recorded for usage events and feeds the Model's cooldown.
 *
 * Provider error bodies become one message (`videoErrorMessage`): 4xx keep their status under
 * `upstream_error`, 5xx become 502 (the body is never echoed), timeouts 504.
 */
import { type Decoded, videoErrorMessage } from '@aisix/providers';
import type { Dispatcher } from 'undici';
import { errors, type GatewayError } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';
import { recordAttemptFailure } from '../pipeline/dispatch.js';
import type { GatewayRuntime } from '../runtime.js';
import { ABORT_CLIENT_GONE, ABORT_TIMEOUT, readCapped } from '../upstream/client.js';
import {
  type AttemptFailure,
  backoffMs,
  DIRECT_POLICY,
  decodeFailure,
  retryAgain,
  retryBudget,
  statusFailure,
  timeoutFailure,
  transportFailure,
} from '../upstream/failures.js';
import { type SentRequest, scrubCredentials } from '../upstream/scrub.js';
import { MAX_ERROR_BODY } from '../upstream/unary.js';
import { closeAttemptTiming, noteProviderRequestId, openAttempt } from '../usage/attempts.js';
import type { VideoTarget } from './target.js';

/** Task objects are small; anything larger is not one. */
const MAX_JSON_BODY = 1024 * 1024;

export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false;
      readonly failure: AttemptFailure;
      /** The provider sent a response (a submit must then not be sent again). */
      readonly answered: boolean;
    };

/**
 * A non-2xx answer as an attempt failure. Redirects are not followed (the provider credential
 * must not travel to another host): a 3xx is a 502 like a 5xx, but final.
 */
export async function statusOutcome(r: Dispatcher.ResponseData, sent: SentRequest): Promise<Outcome<never>> {
  if (r.statusCode < 400) {
    r.body.resume();
    const status = r.statusCode;
    return {
      ok: false,
      failure: { error: errors.upstream5xx(status), retryable: false, timeout: false, status },
      answered: true,
    };
  }
  const text = await readCapped(r.body, MAX_ERROR_BODY);
  // Credentials the gateway sent never come back in the message (an upstream may echo them).
  const info = { message: videoErrorMessage(scrubCredentials(text, sent)) };
  return {
    ok: false,
    failure: statusFailure(r.statusCode, info, r.headers['retry-after'], DIRECT_POLICY),
    answered: true,
  };
}

/**
 * A caught error of a call: the deadline, the client going away, or the transport. `answered`:
 * the response head had arrived (a submit cut short while its answer was read is not resent).
 */
export function thrownOutcome(
  signal: AbortSignal,
  ms: number,
  err: unknown,
  answered: boolean,
): Outcome<never> {
  if (signal.aborted && signal.reason === ABORT_TIMEOUT)
    return { ok: false, failure: timeoutFailure(ms), answered };
  return { ok: false, failure: transportFailure(err), answered };
}

/** One JSON call under the Model's request deadline, its answer read by `decode`. */
export async function callJson<T>(
  rt: GatewayRuntime,
  ctx: RequestContext,
  t: VideoTarget,
  method: 'GET' | 'POST',
  url: URL,
  body: string | undefined,
  decode: (doc: unknown) => Decoded<T>,
): Promise<Outcome<T>> {
  const ac = new AbortController();
  const ms = t.deadlines.requestMs;
  const timer = ms > 0 ? setTimeout(() => ac.abort(ABORT_TIMEOUT), ms) : undefined;
  ctx.onClientGone = () => ac.abort(ABORT_CLIENT_GONE);
  let answered = false;
  try {
    const headers = t.headers(method === 'POST' ? 'submit' : 'poll');
    const r = await rt.upstreams.forKey(ctx.snapshot, t.view.provider_key_id).request({
      origin: url.origin,
      path: url.pathname + url.search,
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      signal: ac.signal,
    });
    answered = true;
    noteProviderRequestId(ctx, r.headers);
    if (r.statusCode < 200 || r.statusCode >= 300) return await statusOutcome(r, { url, headers });
    const text = await readCapped(r.body, MAX_JSON_BODY + 1);
    if (Buffer.byteLength(text) > MAX_JSON_BODY)
      return {
        ok: false,
        failure: decodeFailure('upstream returned an unparseable body: too large'),
        answered: true,
      };
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return {
        ok: false,
        failure: decodeFailure('upstream returned an unparseable body: not JSON'),
        answered: true,
      };
    }
    const d = decode(doc);
    return d.ok ? d : { ok: false, failure: decodeFailure(d.message), answered: true };
  } catch (err) {
    return thrownOutcome(ac.signal, ms, err, answered);
  } finally {
    if (timer) clearTimeout(timer);
    ctx.onClientGone = undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `attempt` up to the Model's budget. `replayable` says whether a failure the provider
 * answered may be sent again (false for a submit). Returns the value or the error to answer;
 * undefined when the client went away (nothing left to answer).
 */
export async function withRetries<T>(
  rt: GatewayRuntime,
  ctx: RequestContext,
  t: VideoTarget,
  replayable: boolean,
  attempt: () => Promise<Outcome<T>>,
): Promise<
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: GatewayError } | undefined
> {
  const budget = retryBudget(t.view.retries, rt.settings.retries);
  ctx.provider = t.provider;
  ctx.upstreamModel = t.upstreamModel;
  for (let n = 0; ; n++) {
    ctx.attempts++;
    openAttempt(ctx, {
      index: ctx.attempts - 1,
      kind: n > 0 ? 'retry' : 'initial',
      model: t.model,
      upstreamModel: t.upstreamModel,
      provider: t.provider,
      providerKeyName: t.providerKeyName,
    });
    const r = await attempt();
    closeAttemptTiming(ctx, r.ok ? { ok: true } : { ok: false, failure: r.failure }, r.ok);
    if (r.ok) {
      rt.health.recordSuccess(t.model.id);
      return r;
    }
    const f = r.failure;
    recordAttemptFailure(rt, ctx, t, f, 'video upstream call failed');
    if (ctx.res.destroyed) return undefined;
    const again =
      retryAgain(f, n, budget) &&
      (replayable || !r.answered) &&
      !(f.error.type === 'upstream_decode_error' && !replayable);
    if (!again) return { ok: false, error: f.error };
    await sleep(backoffMs(n + 1, f.retryAfterMs));
    if (ctx.res.destroyed) return undefined;
  }
}
