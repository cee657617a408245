/**
 * Guardrails on the request lifecycle (data-plane §11): the interceptor that resolves the
 * request's chain (`guardrails/resolve.ts`, compiled per snapshot), scans the input before the
 * rate limits, the cache and dispatch (block = 422 `content_filter`; mask = the body replaced, so
 * the cache key and the upstream see the masked text), and opens a scope whose taps scan the
 * output: the JSON body, or the stream through the hold-back tap (`guardrails/holdback.ts`).
 * Its taps run before the response cache's, so a cached answer is stored masked, and cache hits
 * pass through them like upstream answers.
 *
 * Group members (decisions OP-7): the guardrails attached to the member serving an attempt join
 * the chain for that attempt. A member guardrail that blocks the input skips that member (the
 * next one is tried; when none is left the caller gets the 422); a member guardrail that masks
 * gives that attempt its own masked copy of the body (the shared body is left as it is, so the
 * next member sees only its own masks). Output scanning uses the full chain.
 *
 * Not here: the remote vendor kinds (they compile to nothing: `guardrails/compile.ts`).
 */
import { type ConfigSnapshot, NESTED_TOO_DEEP } from '@aisix/core';
import type { Logger } from 'pino';
import { errors, type GatewayError } from '../errors.js';
import { type Judgement, maskPieces } from '../guardrails/chain.js';
import type { CompiledGuardrail, StreamPolicy } from '../guardrails/compile.js';
import { evaluate } from '../guardrails/evaluate.js';
import {
  type Dialect,
  dialectOf,
  inputSlots,
  outputSlots,
  type Slot,
  setSlot,
  slotText,
} from '../guardrails/extract.js';
import { HoldbackTap } from '../guardrails/holdback.js';
import { usageOf, type VerdictRecorder, verdictRecorder } from '../guardrails/record.js';
import type { GuardrailHttp } from '../guardrails/remote/http.js';
import { compileGuardrailPlan, type GuardrailPlan } from '../guardrails/resolve.js';
import { SurfaceGuardrails } from '../guardrails/surface.js';
import { WindowTap } from '../guardrails/window.js';
import type { Metrics } from '../metrics.js';
import type { RequestContext, RouteKind } from '../pipeline/context.js';
import type { Begin, Interceptor, Json } from '../pipeline/lifecycle.js';
import type { AttemptFacts, AttemptGate, Scope, StreamTap } from '../pipeline/scopes.js';

export interface GuardrailDeps {
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** HTTP for the remote kinds (`upstreamHttp` over the gateway's upstream agent). */
  readonly http: GuardrailHttp;
  /** config.yaml `bedrock_endpoint_url` (`kind: bedrock` guardrails without their own endpoint). */
  readonly bedrockEndpointUrl?: string | undefined;
}

const SCANNED: ReadonlySet<RouteKind> = new Set([
  'chat',
  'completions',
  'messages',
  'responses',
  'embeddings',
  'videos',
]);

interface Sides {
  readonly input: readonly CompiledGuardrail[];
  readonly output: readonly CompiledGuardrail[];
}

const NONE: readonly CompiledGuardrail[] = Object.freeze([]);

/** Kinds whose answers carry no generated text to scan (a video task object). */
const NO_OUTPUT: ReadonlySet<RouteKind> = new Set(['embeddings', 'videos']);

/** The interceptor, and the same plans and recorder for the model-less surfaces (MCP). */
export interface GuardrailInterceptor extends Interceptor<GuardrailPlan> {
  readonly surface: SurfaceGuardrails;
}

export function guardrailInterceptor(d: GuardrailDeps): GuardrailInterceptor {
  const m = d.metrics.guardrails;
  const http = d.http;
  // One compile per snapshot, shared by the lifecycle and the surfaces.
  const plans = new WeakMap<ConfigSnapshot, GuardrailPlan | null>();
  const planOf = (s: ConfigSnapshot): GuardrailPlan | undefined => {
    let p = plans.get(s);
    if (p === undefined) {
      try {
        p = compileGuardrailPlan(s, { bedrockEndpointUrl: d.bedrockEndpointUrl }) ?? null;
      } catch (err) {
        d.logger.error(
          { interceptor: 'guardrails', err },
          'interceptor could not compile this config snapshot',
        );
        p = null;
      }
      plans.set(s, p);
    }
    return p ?? undefined;
  };
  // A chain's input and output members, split once per chain (chains live as long as their snapshot).
  const sides = new WeakMap<readonly CompiledGuardrail[], Sides>();
  const sidesOf = (chain: readonly CompiledGuardrail[]): Sides => {
    let s = sides.get(chain);
    if (s === undefined) {
      s = { input: chain.filter((g) => g.input), output: chain.filter((g) => g.output) };
      sides.set(chain, s);
    }
    return s;
  };
  const record = verdictRecorder(m, d.logger);
  const deps: ScopeDeps = {
    http,
    record,
    bypassed: (ctx, reason) => {
      m.bypassed(reason);
      usageOf(ctx).bypassedReason ??= reason;
    },
    overflowed: (ctx, guardrail) => {
      m.blocked();
      ctx.errorType = 'content_filter';
      usageOf(ctx).blocked = true;
      d.logger.info(
        { request_id: ctx.id, phase: 'output', blocked_by: guardrail, reason: 'buffer_exceeded' },
        'guardrail verdict',
      );
    },
  };

  return {
    name: 'guardrails',
    compile: planOf,
    surface: new SurfaceGuardrails(planOf, record, http),
    begin(plan, f) {
      const ctx = f.ctx;
      if (!SCANNED.has(f.route.kind) || ctx.model === undefined || ctx.apiKey === undefined) return undefined;
      const team = (ctx.apiKey.value as { team_id?: string }).team_id;
      const chain = plan.chainFor(ctx.model.id, ctx.apiKey.id, team);
      // Group members' own guardrails can only add to a group request when model attachments exist.
      const isGroup = plan.modelScoped && (ctx.model.value as { routing?: unknown }).routing !== undefined;
      if (chain.length === 0 && !isGroup) return undefined;
      const { input, output: chainOutput } = sidesOf(chain);
      const opened = (body: Json | undefined): Begin => {
        const output = NO_OUTPUT.has(f.route.kind) ? NONE : chainOutput;
        if (output.length === 0 && !isGroup) return body === undefined ? undefined : { body };
        const scope = new GuardrailScope(
          deps,
          plan,
          ctx,
          dialectOf(f.route.kind),
          f.route.kind,
          body ?? f.body,
          chain,
          output,
          isGroup,
        );
        return body === undefined ? { scope } : { body, scope };
      };
      if (input.length === 0) return opened(undefined);
      const decide = (r: InputScan): Begin => {
        record(ctx, 'input', r.judgement);
        if (r.judgement.block !== undefined)
          return { refuse: errors.guardrailBlocked('request', r.judgement.block.guardrail) };
        return opened(r.body);
      };
      const r = scanInput(input, f.route.kind, f.body, http);
      return r instanceof Promise ? r.then(decide) : decide(r);
    },
  };
}

interface InputScan {
  readonly judgement: Judgement;
  /** The masked copy of the body (undefined: nothing masked). */
  readonly body: Json | undefined;
}

/** The input verdict and, when something was masked, the masked copy of the body. */
function scanInput(
  chain: readonly CompiledGuardrail[],
  kind: RouteKind,
  body: Readonly<Json>,
  http: GuardrailHttp,
): InputScan | Promise<InputScan> {
  // The user's own content too, only when a member judges that alone (Azure text moderation).
  const user = chain.some((g) => g.remote?.userContentOnly) ? ([] as boolean[]) : undefined;
  const slots = inputSlots(kind, body as Json, user);
  const texts = slots.map(slotText);
  const userText = user && texts.filter((_, i) => user[i] === true).join('\n');
  const j = evaluate(chain, texts.join('\n'), 'input', http, userText);
  return j instanceof Promise ? j.then((v) => masked(kind, body, texts, v)) : masked(kind, body, texts, j);
}

function masked(kind: RouteKind, body: Readonly<Json>, texts: readonly string[], j: Judgement): InputScan {
  if (j.block !== undefined || j.masks.length === 0) return { judgement: j, body: undefined };
  const copy = cloneTree(body) as Json;
  const out = maskPieces(texts, 1, j.masks);
  const target = inputSlots(kind, copy);
  // Only what a mask changed is written (an untouched number leaf stays a number).
  for (let i = 0; i < target.length; i++)
    if (out[i] !== texts[i]) setSlot(target[i] as Slot, out[i] as string);
  return { judgement: j, body: copy };
}

/**
 * A copy of a parsed JSON body whose objects and arrays are new and whose strings are shared
 * (strings are immutable): masks are written into the copy at the cost of its structure only,
 * not of its text (structuredClone copies every string).
 */
function cloneTree(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(cloneTree);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const c = cloneTree((v as Record<string, unknown>)[k]);
    // A `__proto__` key of the JSON is data, never the copy's prototype.
    if (k === '__proto__')
      Object.defineProperty(out, k, { value: c, enumerable: true, writable: true, configurable: true });
    else out[k] = c;
  }
  return out;
}

interface ScopeDeps {
  readonly http: GuardrailHttp;
  readonly record: VerdictRecorder;
  /** A guardrail let content through unscanned: counted, and the request's event names why. */
  bypassed(ctx: RequestContext, reason: string): void;
  /** A held stream went over `guardrail`'s buffer cap and fails closed. */
  overflowed(ctx: RequestContext, guardrail: string): void;
}

class GuardrailScope implements Scope {
  private output: readonly CompiledGuardrail[];

  constructor(
    private readonly d: ScopeDeps,
    private readonly plan: GuardrailPlan,
    private readonly ctx: RequestContext,
    private readonly dialect: Dialect,
    private readonly kind: RouteKind,
    private readonly body: Readonly<Json>,
    private readonly chain: readonly CompiledGuardrail[],
    baseOutput: readonly CompiledGuardrail[],
    private readonly group: boolean,
  ) {
    this.output = baseOutput;
  }

  attempt(a: AttemptFacts): AttemptGate | Promise<AttemptGate> {
    if (!this.group) return undefined;
    const extra = this.plan.modelOnly(a.model.id).filter((g) => !this.chain.includes(g));
    const base = this.chain.filter((g) => g.output && !NO_OUTPUT.has(this.kind));
    this.output = [...base, ...extra.filter((g) => g.output && !NO_OUTPUT.has(this.kind))];
    const input = extra.filter((g) => g.input);
    if (input.length === 0) return undefined;
    const decide = (r: InputScan): AttemptGate => {
      this.d.record(this.ctx, 'input', r.judgement);
      if (r.judgement.block !== undefined)
        return errors.guardrailBlocked('request', r.judgement.block.guardrail);
      // Masked for this member only: the next attempt starts again from the shared body.
      return r.body === undefined ? undefined : { body: r.body };
    };
    const r = scanInput(input, this.kind, this.body, this.d.http);
    return r instanceof Promise ? r.then(decide) : decide(r);
  }

  json(
    body: string,
    _usage: unknown,
    value?: object,
  ): string | GatewayError | Promise<string | GatewayError> {
    const chain = this.output;
    if (chain.length === 0) return body;
    // The adapter's own parse of the answer when it hands it on; masking writes into it.
    let parsed = value as Json | undefined;
    if (parsed === undefined) {
      try {
        parsed = JSON.parse(body) as Json;
      } catch {
        return body;
      }
    }
    const slots = outputSlots(this.dialect, parsed);
    const texts = slots.map(slotText);
    const decide = (j: Judgement): string | GatewayError => {
      this.d.record(this.ctx, 'output', j);
      if (j.block !== undefined) return errors.guardrailBlocked('response', j.block.guardrail);
      if (j.masks.length === 0) return body;
      const out = maskPieces(texts, 1, j.masks);
      for (let i = 0; i < slots.length; i++)
        if (out[i] !== texts[i]) setSlot(slots[i] as Slot, out[i] as string);
      try {
        return JSON.stringify(parsed);
      } catch {
        // Nested past what JSON.stringify can write (a stack overflow): the masked answer cannot
        // be produced, and a throwing hook would let the unmasked one through. Refused instead.
        return errors.decode(`upstream returned an unparseable body: ${NESTED_TOO_DEEP}`);
      }
    };
    const j = evaluate(chain, texts.join('\n'), 'output', this.d.http);
    return j instanceof Promise ? j.then(decide) : decide(j);
  }

  stream(): StreamTap | undefined {
    const chain = this.output;
    if (chain.length === 0) return undefined;
    const ctx = this.ctx;
    const enforcing = chain.filter((g) => !g.monitor);
    // The strictest member decides (BufferFull > Window; the smallest buffer / window, with its
    // overflow rule). Monitor-only chains never hold back: they are scanned at the end, and keep
    // their text up to the same cap (the smallest of the chain, with its member's rule).
    const strict = strictest(enforcing);
    const policy = strict?.policy;
    const cap = strict ?? strictest(chain);
    const callbacks = {
      judge: (text: string) => evaluate(chain, text, 'output', this.d.http),
      blocked: (j: Judgement | undefined) => {
        // No judgement: the buffer overflowed, failing closed on the guardrail whose cap it was.
        const name = j?.block?.guardrail ?? strict?.guardrail ?? '';
        if (j === undefined) this.d.overflowed(ctx, name);
        const e = errors.guardrailBlocked('response', name);
        ctx.errorType = e.type;
        ctx.errorMessage = e.message;
        return errorFrame(this.dialect, e.message);
      },
      bypassed: () => this.d.bypassed(ctx, 'buffer_exceeded'),
      judged: (js: readonly Judgement[]) => {
        for (const j of js) this.d.record(ctx, 'output', j);
      },
      // A monitor-only stream past the cap is not scanned: recorded as what enforcing would do.
      exceeded: () => {
        if (cap === undefined || cap.policy.failOpen) this.d.bypassed(ctx, 'buffer_exceeded');
        else this.d.record(ctx, 'output', wouldOverflow(cap.guardrail));
      },
    };
    if (policy?.mode === 'window') return new WindowTap({ dialect: this.dialect, ...policy, ...callbacks });
    return new HoldbackTap({
      dialect: this.dialect,
      mode: policy === undefined ? 'end_of_stream' : 'buffer_full',
      maxBufferBytes: cap?.policy.maxBufferBytes ?? Number.POSITIVE_INFINITY,
      failOpen: cap?.policy.failOpen ?? false,
      ...callbacks,
    });
  }
}

/** A monitor-only stream past `guardrail`'s buffer cap: enforcing, it would have failed closed. */
function wouldOverflow(guardrail: string): Judgement {
  return {
    block: undefined,
    masks: [],
    hits: [{ guardrail, detector: 'buffer_exceeded', verdict: 'would_block' }],
    redacted: {},
    timings: [],
    bypasses: [],
  };
}

/** The stream policy that governs a chain, and the member whose buffer cap (or window) it is. */
function strictest(
  chain: readonly CompiledGuardrail[],
): { readonly policy: StreamPolicy; readonly guardrail: string } | undefined {
  let best: StreamPolicy | undefined;
  let owner = '';
  for (const g of chain) {
    const p = g.stream;
    if (best === undefined) {
      best = p;
      owner = g.name;
    } else if (p.mode !== best.mode) {
      if (p.mode === 'buffer_full') {
        // A buffering member outranks a windowed one; the cap stays the smaller of the two.
        if (p.maxBufferBytes <= best.maxBufferBytes) owner = g.name;
        best = { ...p, maxBufferBytes: Math.min(p.maxBufferBytes, best.maxBufferBytes) };
      }
    } else if (
      p.mode === 'window' ? p.windowSize < best.windowSize : p.maxBufferBytes < best.maxBufferBytes
    ) {
      best = p;
      owner = g.name;
    }
  }
  return best === undefined ? undefined : { policy: best, guardrail: owner };
}

/** The one frame a blocked stream sends, in the caller's dialect. */
function errorFrame(d: Dialect, message: string): string {
  if (d === 'anthropic')
    return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message } })}\n\n`;
  if (d === 'responses')
    return `event: error\ndata: ${JSON.stringify({ type: 'error', code: 'content_filter', message, param: null, sequence_number: 0 })}\n\n`;
  return `event: error\ndata: ${JSON.stringify({ error: { message, type: 'content_filter' } })}\n\n`;
}
