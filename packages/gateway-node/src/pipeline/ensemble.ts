/**
 * Ensembles (agents-and-jobs §8.1): every panel member answers the caller's request
 * concurrently (non-streaming), then a judge model synthesizes one answer from the labeled
 * candidates. This module runs the panel and builds the judge call; `dispatch.ts` relays a
 * streaming judge through the attempt loop (chunks restamped to the ensemble alias), a
 * non-streaming judge is answered here with the summed usage.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { NESTED_TOO_DEEP, nestedTooDeep, resolveModel, timerMs } from '@aisix/core';
import type { Usage } from '@aisix/providers';
import { errors, GatewayError } from '../errors.js';
import { sendError, sendSuccessJson } from '../http/respond.js';
import { type EnsembleView, modelKind, modelView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { authorizeTarget } from '../upstream/authorize.js';
import { readCapped, sendUpstream } from '../upstream/client.js';
import {
  type AttemptFailure,
  backoffMs,
  DIRECT_POLICY,
  inBandFailure,
  retryAgain,
  retryBudget,
  statusFailure,
  timeoutFailure,
  transportFailure,
} from '../upstream/failures.js';
import { scrubCredentials } from '../upstream/scrub.js';
import { buildTarget, type Target } from '../upstream/target.js';
import { estimateUsage, needsEstimate } from '../usage/estimate.js';
import type { RequestContext } from './context.js';
import { gateMember, tapJson } from './scopes.js';

/** A sub-call answer larger than this is refused (a chat completion, not a download). */
const MAX_ANSWER_BODY = 16 * 1024 * 1024;
/** Each candidate's share of the judge prompt. */
const CANDIDATE_CAP = 8 * 1024;

export const DEFAULT_SYNTHESIS_PROMPT = `You are given a conversation and several candidate answers to its last message.
Write the single best answer to the conversation, in the user's language and in the format the user asked for.
Use the candidates as material: keep what is correct and useful, fix what is wrong, and do not mention that there were several candidates.

Conversation:
{original_request}

Candidates:
{labeled_candidates}`;

interface Reported {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

type SubResult =
  | {
      readonly ok: true;
      readonly body: Record<string, unknown>;
      /** The answer as rendered for the caller (JSON). */
      readonly raw: string;
      readonly text: string;
    }
  | { readonly ok: false; readonly error: GatewayError };

/** A resolved direct model for a sub-call, or the 400 naming the alias. */
function directTarget(
  rt: GatewayRuntime,
  ctx: RequestContext,
  alias: string,
  body: Readonly<Record<string, unknown>>,
  stream: boolean,
): { ok: true; target: Target } | { ok: false; error: GatewayError } {
  const resolved = resolveModel(ctx.snapshot, alias);
  if (!resolved || modelKind(modelView(resolved.model)) !== 'direct') {
    return {
      ok: false,
      error: errors.invalidBody(`ensemble member ${JSON.stringify(alias)} is not a direct model`),
    };
  }
  const view = modelView(resolved.model);
  const built = buildTarget(
    rt,
    { ...ctx, stream },
    'chat',
    body,
    resolved.model,
    resolved.upstreamModel ?? view.model_name ?? '',
    undefined,
  );
  return built.ok ? { ok: true, target: built.target } : { ok: false, error: built.error };
}

/** The smaller positive of two deadlines (0 = none). */
export function capMs(a: number | undefined, b: number): number {
  const x = a !== undefined && a > 0 ? a : 0;
  if (x === 0) return b;
  return b > 0 ? Math.min(x, b) : timerMs(x);
}

/** Target with the ensemble's per-call cap applied to its own deadlines. */
export function capTarget(t: Target, timeoutMs: number | undefined): Target {
  if (timeoutMs === undefined || timeoutMs <= 0) return t;
  return {
    ...t,
    deadlines: {
      ...t.deadlines,
      requestMs: capMs(timeoutMs, t.deadlines.requestMs),
      streamMs: capMs(timeoutMs, t.deadlines.streamMs),
    },
  };
}

/**
 * The sub-calls' abort on client disconnect (data-plane §6.6): the panel and a non-streaming
 * judge run before any response head, so nothing else stops them when the caller leaves.
 */
function abortOnClientGone(ctx: RequestContext): AbortSignal {
  const ac = new AbortController();
  ctx.onClientGone = () => ac.abort();
  return ac.signal;
}

/** One non-streaming chat call with the member model's retry budget. */
async function subCall(
  rt: GatewayRuntime,
  ctx: RequestContext,
  alias: string,
  body: Readonly<Record<string, unknown>>,
  timeoutMs: number | undefined,
  slot: { readonly index: number; readonly kind: 'panel' | 'judge' },
  gone: AbortSignal,
): Promise<SubResult> {
  const built = directTarget(rt, ctx, alias, body, false);
  if (!built.ok) return built;
  const t0 = performance.now();
  let r: SubResult;
  const scopes = ctx.scopes;
  // A panel member keeps its own model-layer limit: over it, that member fails (§8.1 step 2).
  const gate =
    slot.kind === 'panel' && scopes !== undefined
      ? await gateMember(rt.logger, ctx.id, scopes, {
          model: built.target.model,
          alias,
          provider: built.target.provider,
          upstreamModel: built.target.upstreamModel,
          group: undefined,
        })
      : [];
  if (gate instanceof GatewayError) r = { ok: false, error: gate };
  else {
    r = await subAttempts(rt, ctx, alias, capTarget(built.target, timeoutMs), gone);
    const spent = r.ok ? toUsage(reported(r.body)) : undefined;
    for (const h of gate) h.end(spent);
  }
  const took = performance.now() - t0;
  // One usage event per sub-call (§8.1 step 7), with the usage that call reported, or local
  // estimates (flagged) when it reported none.
  const t = built.target;
  let usage: Usage | undefined;
  let estimated = false;
  if (r.ok && ctx.attemptLog !== undefined) {
    usage = toUsage(reported(r.body));
    if (needsEstimate(usage, true)) {
      const e = await estimateUsage(
        usage,
        { model: t.upstreamModel, body, generates: true, json: r.raw, sse: undefined, sseDroppedChars: 0 },
        true,
      );
      usage = e.usage;
      estimated = e.estimated;
    }
  }
  ctx.attempts++;
  ctx.attemptLog?.push({
    index: slot.index,
    kind: slot.kind,
    model: t.model,
    upstreamModel: t.upstreamModel,
    provider: t.provider,
    providerKeyName: t.providerKeyName ?? null,
    t0,
    ms: took,
    ok: r.ok,
    status: r.ok ? undefined : r.error.status,
    errorClass: r.ok ? null : r.error.type,
    errorMessage: r.ok ? null : r.error.message,
    providerRequestId: null,
    ...(usage !== undefined ? { usage, estimated } : {}),
  });
  return r;
}

async function subAttempts(
  rt: GatewayRuntime,
  ctx: RequestContext,
  alias: string,
  target: Target,
  gone: AbortSignal,
): Promise<SubResult> {
  let t = target;
  if (t.adapter.authorize) {
    const auth = await authorizeTarget({ ...ctx, stream: false }, t, false);
    if (!auth.ok) return { ok: false, error: auth.failure.error };
    t = auth.target;
  }
  // The member's own dispatch (data-plane §8.3): its `retries`, else the deployment's, which does
  // not retry a timeout; backoff (or a short Retry-After) before each retry.
  const budget = retryBudget(t.view.retries, rt.settings.retries);
  const ms = t.deadlines.requestMs;
  let last: AttemptFailure | undefined;
  for (let attempt = 0; ; attempt++) {
    if (ctx.res.destroyed || gone.aborted) return { ok: false, error: errors.clientDisconnected() };
    const p = t.prepared;
    try {
      const r = await sendUpstream(
        t.dispatcher,
        p,
        ms > 0 ? AbortSignal.any([gone, AbortSignal.timeout(ms)]) : gone,
      );
      const text = await readCapped(r.body, MAX_ANSWER_BODY);
      if (r.statusCode < 200 || r.statusCode >= 300) {
        last = statusFailure(
          r.statusCode,
          t.adapter.parseError(r.statusCode, scrubCredentials(text, t.prepared), r.headers),
          r.headers['retry-after'],
          DIRECT_POLICY,
        );
      } else {
        const out = t.adapter.transformResponse('chat', text, ctx.requestedModel ?? alias, p);
        if (!out.ok) {
          const error = out.error
            ? inBandFailure({ ...out.error, message: scrubCredentials(out.error.message, p) }, DIRECT_POLICY)
                .error
            : errors.decode(out.message);
          return { ok: false, error };
        }
        const parsed: unknown = JSON.parse(out.body);
        // Read (and, for the judge, re-encoded) here: an answer that is no object, or nests past
        // the JSON bound (JSON.stringify would overflow), is an unparseable body (§7.3).
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
          return {
            ok: false,
            error: errors.decode('upstream returned an unparseable body: not a JSON object'),
          };
        if (nestedTooDeep(parsed))
          return {
            ok: false,
            error: errors.decode(`upstream returned an unparseable body: ${NESTED_TOO_DEEP}`),
          };
        const body = parsed as Record<string, unknown>;
        return { ok: true, body, raw: out.body, text: answerText(body) };
      }
    } catch (err) {
      if (gone.aborted) return { ok: false, error: errors.clientDisconnected() };
      last = (err as Error)?.name === 'TimeoutError' ? timeoutFailure(ms) : transportFailure(err);
    }
    if (!retryAgain(last, attempt, budget)) break;
    await sleep(backoffMs(attempt + 1, last.retryAfterMs));
  }
  return { ok: false, error: last.error };
}

/** The text of the first choice's message. */
export function answerText(body: Record<string, unknown>): string {
  const choices = body.choices as { message?: { content?: unknown } }[] | undefined;
  const c = choices?.[0]?.message?.content;
  if (typeof c === 'string') return c;
  if (!Array.isArray(c)) return '';
  const parts: string[] = [];
  for (const p of c as { text?: unknown }[]) if (typeof p?.text === 'string') parts.push(p.text);
  return parts.join('');
}

/** At most `cap` UTF-8 bytes, cut on a character boundary, with a trailing `…` when cut. */
export function truncateUtf8(s: string, cap: number): string {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= cap) return s;
  let end = cap;
  // Back off continuation bytes (10xxxxxx) so the cut never splits a character.
  while (end > 0 && ((b[end] as number) & 0xc0) === 0x80) end--;
  return `${b.subarray(0, end).toString('utf8')}…`;
}

function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content))
    return content === undefined || content === null ? '' : JSON.stringify(content);
  const parts: string[] = [];
  for (const p of content as { type?: unknown; text?: unknown }[]) {
    if (typeof p?.text === 'string') parts.push(p.text);
  }
  return parts.join('\n');
}

/** The conversation, one `Role: content` line per message. */
export function renderConversation(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  const lines: string[] = [];
  for (const m of messages as { role?: unknown; content?: unknown }[]) {
    const role = typeof m?.role === 'string' ? m.role : 'user';
    lines.push(`${role.charAt(0).toUpperCase()}${role.slice(1)}: ${messageText(m?.content)}`);
  }
  return lines.join('\n');
}

export function labeledCandidates(texts: readonly string[]): string {
  return texts.map((t, i) => `Answer ${i + 1}:\n${truncateUtf8(t, CANDIDATE_CAP)}`).join('\n\n');
}

export function judgePrompt(
  template: string | undefined,
  messages: unknown,
  texts: readonly string[],
): string {
  // One pass, so a placeholder inside the conversation or a candidate is never expanded.
  return (template ?? DEFAULT_SYNTHESIS_PROMPT).replace(
    /\{original_request\}|\{labeled_candidates\}/g,
    (m) => (m === '{original_request}' ? renderConversation(messages) : labeledCandidates(texts)),
  );
}

function reported(body: Record<string, unknown>): Reported {
  const u = body.usage as Partial<Reported> | undefined;
  const n = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
  return {
    prompt_tokens: n(u?.prompt_tokens),
    completion_tokens: n(u?.completion_tokens),
    total_tokens: n(u?.total_tokens),
  };
}

/** Adds `u`'s three counters into `into` (returned). */
function addReported<T extends Reported>(into: T, u: Reported): T {
  into.prompt_tokens += u.prompt_tokens;
  into.completion_tokens += u.completion_tokens;
  into.total_tokens += u.total_tokens;
  return into;
}

function toUsage(r: Reported): Usage {
  return {
    ...r,
    cached_prompt_tokens: 0,
    reasoning_tokens: 0,
    cache_creation_tokens: 0,
    cache_read_tokens: 0,
  };
}

export interface JudgeCall {
  readonly alias: string;
  readonly body: Record<string, unknown>;
  readonly timeoutMs: number | undefined;
  /** Reported usage of the surviving panel members. */
  readonly panelUsage: Reported;
  /** The judge's attempt index (the panel size). */
  readonly judgeIndex: number;
}

function usesTools(body: Readonly<Record<string, unknown>>): boolean {
  if (Array.isArray(body.tools) && body.tools.length > 0) return true;
  const tc = body.tool_choice;
  return tc !== undefined && tc !== null && tc !== 'none' && tc !== 'auto';
}

/** Steps 1-4 up to the judge request: tools check, panel, `min_responses`, judge prompt. */
export async function runPanel(
  rt: GatewayRuntime,
  ctx: RequestContext,
  body: Readonly<Record<string, unknown>>,
  e: EnsembleView,
): Promise<JudgeCall | GatewayError> {
  if (usesTools(body)) return errors.invalidBody('ensemble models do not support tools');
  const gone = abortOnClientGone(ctx);
  const results = await Promise.all(
    e.panel.map((m, i) => {
      const b: Record<string, unknown> = { ...body, model: m.model, stream: false };
      delete b.stream_options;
      if (m.temperature !== undefined) b.temperature = m.temperature;
      if (m.seed !== undefined) b.seed = m.seed;
      return subCall(rt, ctx, m.model, b, e.timeout_ms, { index: i, kind: 'panel' }, gone);
    }),
  );
  ctx.onClientGone = undefined;
  const texts: string[] = [];
  const usage: Reported = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  for (const r of results) {
    if (!r.ok) {
      rt.logger.warn({ request_id: ctx.id, cause: r.error.message }, 'ensemble panel member failed');
      continue;
    }
    texts.push(r.text);
    addReported(usage, reported(r.body));
  }
  const n = e.panel.length;
  const need = Math.min(Math.max(e.min_responses ?? Math.min(2, n), 1), n);
  if (texts.length < need) {
    ctx.usage = toUsage(usage);
    return new GatewayError(
      502,
      'upstream_error',
      'ensemble panel did not reach the required number of responses',
    );
  }
  const judgeBody: Record<string, unknown> = {
    model: e.judge.model,
    messages: [{ role: 'user', content: judgePrompt(e.judge.synthesis_prompt, body.messages, texts) }],
    temperature: 0.2,
  };
  if (ctx.stream) {
    judgeBody.stream = true;
    if (body.stream_options !== undefined) judgeBody.stream_options = body.stream_options;
  }
  return { alias: e.judge.model, body: judgeBody, timeoutMs: e.timeout_ms, panelUsage: usage, judgeIndex: n };
}

/** Judge failure mapping (§8.1 step 4): a 4xx stays, anything else → 502. */
export function judgeError(err: GatewayError): GatewayError {
  if (err.status >= 400 && err.status < 500) return err;
  return new GatewayError(502, 'upstream_error', err.message);
}

/** The non-streaming judge: its answer with `model` = the ensemble alias and the summed usage. */
export async function answerWithJudge(rt: GatewayRuntime, ctx: RequestContext, j: JudgeCall): Promise<void> {
  const r = await subCall(
    rt,
    ctx,
    j.alias,
    j.body,
    j.timeoutMs,
    { index: j.judgeIndex, kind: 'judge' },
    abortOnClientGone(ctx),
  );
  ctx.onClientGone = undefined;
  if (!r.ok) {
    ctx.usage = toUsage(j.panelUsage);
    return sendError(ctx, rt.ident, judgeError(r.error));
  }
  const sum = addReported({ ...j.panelUsage }, reported(r.body));
  const out = { ...r.body, model: ctx.requestedModel ?? '', usage: sum };
  ctx.usage = toUsage(sum);
  const text = JSON.stringify(out);
  const scopes = ctx.scopes;
  const final = scopes === undefined ? text : await tapJson(rt.logger, ctx.id, scopes, text, ctx.usage);
  if (final instanceof GatewayError) return sendError(ctx, rt.ident, final);
  ctx.outputJson = final;
  sendSuccessJson(ctx, rt.ident, final);
}

/** The streaming judge's target (its deadlines capped by `timeout_ms`), or the 400 for its alias. */
export function judgeTarget(
  rt: GatewayRuntime,
  ctx: RequestContext,
  j: JudgeCall,
): { ok: true; target: Target } | { ok: false; error: GatewayError } {
  const built = directTarget(rt, ctx, j.alias, j.body, true);
  return built.ok ? { ok: true, target: capTarget(built.target, j.timeoutMs) } : built;
}

/**
 * A streaming judge: the panel's reported usage joins the judge's when the request completes
 * (`finish.ts`), whether the judge's stream succeeds, fails or is cut.
 */
export function holdPanelUsage(ctx: RequestContext, j: JudgeCall): void {
  ctx.ensemblePanelUsage = toUsage(j.panelUsage);
}

/**
 * A streaming ensemble, when its request completes (`finish.ts`): the judge's attempt keeps the
 * judge's own usage for its event, the request's usage (commit, access log, metrics) becomes
 * panel + judge (agents-and-jobs §8.1 step 7). Done at completion, once, because the judge's
 * stream may close the response before its relay returns.
 */
export function joinPanelUsage(ctx: RequestContext): void {
  const p = ctx.ensemblePanelUsage;
  if (p === undefined) return;
  ctx.ensemblePanelUsage = undefined;
  const u = ctx.usage;
  const rec = ctx.attemptLog?.at(-1);
  if (rec !== undefined && rec.kind === 'judge' && rec.ok && rec.usage === undefined && u !== undefined) {
    rec.usage = { ...u };
    rec.estimated = ctx.usageEstimated;
  }
  ctx.usage = u === undefined ? { ...p } : addReported({ ...u }, p);
}
