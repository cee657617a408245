/**
 * Attempt timing for the latency split (upstream time vs gateway time) and, while usage events
 * are built, one record per attempt. Dispatch opens and closes each attempt; the completion hook
 * settles one still open (a stream's last write can close the response before dispatch resumes).
 */
import type { Resource } from '@aisix/core';
import type { RequestContext } from '../pipeline/context.js';
import type { AttemptFailure, AttemptResult } from '../upstream/failures.js';
import type { AttemptKind } from './events.js';
import type { AttemptRecord } from './records.js';

export interface AttemptStart {
  readonly index: number;
  readonly kind: AttemptKind;
  readonly model: Resource<'models'>;
  readonly upstreamModel: string;
  readonly provider: string;
  readonly providerKeyName: string | undefined;
}

export function openAttempt(ctx: RequestContext, a: AttemptStart): void {
  const t0 = performance.now();
  ctx.attemptT0 = t0;
  ctx.targetModel = a.model;
  ctx.providerRequestId = undefined;
  if (ctx.attemptLog === undefined) return;
  ctx.attemptLog.push({
    index: a.index,
    kind: a.kind,
    model: a.model,
    upstreamModel: a.upstreamModel,
    provider: a.provider,
    providerKeyName: a.providerKeyName ?? null,
    t0,
    ms: -1,
    ok: false,
    status: undefined,
    errorClass: null,
    errorMessage: null,
    providerRequestId: null,
  });
}

/**
 * Ends the open attempt (once): adds its time to the upstream total and fills its record. `ok`:
 * the attempt served the response; a failure in `r` is recorded either way (a stream that failed
 * after commit served the response and failed).
 */
export function closeAttemptTiming(ctx: RequestContext, r: AttemptResult | undefined, ok: boolean): void {
  const t0 = ctx.attemptT0;
  if (t0 < 0) return;
  ctx.attemptT0 = -1;
  const ms = performance.now() - t0;
  ctx.upstreamMs += ms;
  const log = ctx.attemptLog;
  const rec = log === undefined ? undefined : log[log.length - 1];
  if (rec === undefined || rec.ms >= 0) return;
  rec.ms = ms;
  rec.ok = ok;
  rec.providerRequestId = ctx.providerRequestId ?? null;
  if (r !== undefined && !r.ok) {
    failureInto(rec, r.failure);
  } else if (r === undefined && !ok && ctx.errorType === 'client_disconnected') {
    // Closed by the completion hook: the caller left before this attempt answered (§1.3).
    rec.status = 499;
    rec.errorClass = ctx.errorType;
    rec.errorMessage = ctx.errorMessage ?? null;
  }
}

/**
 * The open attempt failed although its response is framed as a normal end (a stream whose own
 * terminal event reported the failure): its record carries the failure whichever close comes
 * first (the response's close can run before the attempt loop sees the result).
 */
export function noteAttemptFailure(ctx: RequestContext, f: AttemptFailure): void {
  const log = ctx.attemptLog;
  const rec = ctx.attemptT0 < 0 || log === undefined ? undefined : log[log.length - 1];
  if (rec !== undefined && rec.ms < 0) failureInto(rec, f);
}

function failureInto(rec: AttemptRecord, f: AttemptFailure): void {
  rec.status = f.status ?? f.error.status;
  rec.errorClass = f.error.type;
  rec.errorMessage = f.error.message;
}

const REQUEST_ID_HEADERS = ['x-request-id', 'request-id', 'apim-request-id', 'x-amzn-requestid'] as const;

/** The upstream's request id header of the current attempt, when it sent one. */
export function noteProviderRequestId(
  ctx: RequestContext,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): void {
  if (ctx.attemptLog === undefined) return;
  for (const h of REQUEST_ID_HEADERS) {
    const v = headers[h];
    if (typeof v === 'string' && v !== '') {
      ctx.providerRequestId = v.length > 128 ? v.slice(0, 128) : v;
      return;
    }
  }
}
