/**
 * What a request scope is (opened by an interceptor's `begin`, `lifecycle.ts`) and how the
 * pipeline calls the open scopes of a request, in the order their interceptors ran.
 * Every call site checks `ctx.scopes !== undefined` first, so requests without scopes pay one
 * property read per step. A hook that throws is logged once per call and skipped: a broken
 * feature must not fail traffic it does not govern.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Resource } from '@aisix/core';
import type { Usage } from '@aisix/providers';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import type { ModelView } from '../resources.js';

/** One routing attempt about to be made. */
export interface AttemptFacts {
  /** The target model (a direct model). */
  readonly model: Resource<'models'>;
  /** The target's alias (display name). */
  readonly alias: string;
  readonly provider: string;
  readonly upstreamModel: string;
  /** The routing group, when the request named one. */
  readonly group: ModelView | undefined;
}

/** A transform of a success stream's output, in the caller's dialect. */
export interface StreamTap {
  /** Bytes about to be written; returns what to write instead ('' holds them back). */
  push(text: string): string;
  /**
   * The stream ended normally; returns the last bytes to write. A promise (a remote scan of
   * held output) delays the end of the response until it settles; the relay is done by then.
   */
  end(): string | Promise<string>;
  /**
   * Given once by a live relay: a writer for bytes the tap releases later, between pushes (a
   * window scanned clean while the stream goes on). What it writes passes the later taps.
   * Never given for a replayed answer: such a tap then releases everything from `end`.
   */
  attach?(write: (text: string) => void): void;
}

/** `a + b` where `b` may be a promise (no promise when none is involved). */
export function concatLater(a: string, b: string | Promise<string>): string | Promise<string> {
  return typeof b === 'string' ? a + b : b.then((x) => a + x);
}

export interface Outcome {
  /** Final status (499 when the client went away first). */
  readonly status: number;
  readonly cancelled: boolean;
  /** Usage of the served answer (undefined: nothing consumed, e.g. a refusal or a cache hit). */
  readonly usage: Usage | undefined;
  /**
   * The error the response ended with (its `type`), also when the status was already 200: a
   * stream ended by an error frame (an upstream failure, a guardrail block). Undefined on success.
   */
  readonly error?: string | undefined;
}

/** An attempt admitted with its own request body (a member's input guardrail masked it). */
export interface AttemptBody {
  readonly body: Readonly<Record<string, unknown>>;
}

/** A gate's answer: a refusal, a body for this attempt only, or undefined (admitted as is). */
export type AttemptGate = GatewayError | AttemptBody | undefined;

/** A panel call admitted by `Scope.member`: settled once with the call's usage (undefined: failed). */
export interface MemberHold {
  end(usage: Usage | undefined): void;
}

/** A member gate's answer: a refusal, a hold to settle, or undefined (nothing to hold). */
export type MemberGate = GatewayError | MemberHold | undefined;

export interface Scope {
  /**
   * Before one ensemble panel call (agents-and-jobs §8.1 step 2): the member model's own limits.
   * Panel calls run concurrently, so each gets its own hold; a refusal fails that member only.
   */
  member?(a: AttemptFacts): MemberGate | Promise<MemberGate>;
  /**
   * Before each upstream attempt; an error skips the target as a refused (429) attempt, a body
   * replaces the request body for this attempt (its target is prepared again).
   */
  attempt?(a: AttemptFacts): AttemptGate | Promise<AttemptGate>;
  /** The attempt admitted by `attempt` ended; `ok` = it produced the response. */
  attemptEnd?(ok: boolean): void;
  /** Adds headers to a success head (JSON, stream, passthrough, answers). */
  headers?(h: OutgoingHttpHeaders): void;
  /**
   * A whole JSON success body; returns the body to send (possibly replaced) or a refusal.
   * `value`: `JSON.parse(body)` when already at hand; a hook may change it only when it returns
   * a new body.
   */
  json?(
    body: string,
    usage: Usage | undefined,
    value?: object,
  ): string | GatewayError | Promise<string | GatewayError>;
  /** A tap for the output of a success stream (undefined: nothing to tap). */
  stream?(): StreamTap | undefined;
  /** Exactly once, when the response has closed. */
  finish?(o: Outcome): void;
}

function hookFailed(log: Logger, requestId: string, hook: string, err: unknown): void {
  log.error({ request_id: requestId, hook, err }, 'request scope hook failed');
}

/**
 * First refusal of an attempt gate, in scope order (later gates are not asked); without one, the
 * last body a gate gave for this attempt (undefined: none). Synchronous while every gate answers
 * synchronously (the in-memory limiter does): a promise only from the first gate that returns
 * one, so an attempt pays no microtask per scope.
 */
export function gateAttempt(
  log: Logger,
  requestId: string,
  scopes: readonly Scope[],
  a: AttemptFacts,
): AttemptGate | Promise<AttemptGate> {
  return gateFrom(log, requestId, scopes, a, 0, undefined);
}

function gateFrom(
  log: Logger,
  requestId: string,
  scopes: readonly Scope[],
  a: AttemptFacts,
  start: number,
  body: AttemptBody | undefined,
): AttemptGate | Promise<AttemptGate> {
  for (let i = start; i < scopes.length; i++) {
    const s = scopes[i] as Scope;
    if (!s.attempt) continue;
    try {
      const r = s.attempt(a);
      if (r instanceof Promise) {
        return r.then(
          (v) => {
            let next: AttemptGate;
            try {
              next = admitted(scopes, s, v, body);
            } catch (err) {
              hookFailed(log, requestId, 'attempt', err);
              return gateFrom(log, requestId, scopes, a, i + 1, body);
            }
            return next instanceof GatewayError ? next : gateFrom(log, requestId, scopes, a, i + 1, next);
          },
          (err: unknown) => {
            hookFailed(log, requestId, 'attempt', err);
            return gateFrom(log, requestId, scopes, a, i + 1, body);
          },
        );
      }
      const next = admitted(scopes, s, r, body);
      if (next instanceof GatewayError) return next;
      body = next;
    } catch (err) {
      hookFailed(log, requestId, 'attempt', err);
    }
  }
  return body;
}

/** One gate's answer folded in: the refusal (earlier scopes release what they took) or the body. */
function admitted(
  scopes: readonly Scope[],
  s: Scope,
  r: AttemptGate,
  body: AttemptBody | undefined,
): GatewayError | AttemptBody | undefined {
  if (r === undefined) return body;
  if (!(r instanceof GatewayError)) return r;
  for (const t of scopes) {
    if (t === s) break;
    t.attemptEnd?.(false);
  }
  return r;
}

/**
 * Every scope's member gate for one panel call, in scope order: the holds to settle when the call
 * ends, or the first refusal (the holds taken before it are released).
 */
export async function gateMember(
  log: Logger,
  requestId: string,
  scopes: readonly Scope[],
  a: AttemptFacts,
): Promise<GatewayError | MemberHold[]> {
  const holds: MemberHold[] = [];
  for (const s of scopes) {
    if (!s.member) continue;
    let g: MemberGate;
    try {
      g = await s.member(a);
    } catch (err) {
      hookFailed(log, requestId, 'member', err);
      continue;
    }
    if (g instanceof GatewayError) {
      for (const h of holds) h.end(undefined);
      return g;
    }
    if (g !== undefined) holds.push(g);
  }
  return holds;
}

export function endAttempt(log: Logger, requestId: string, scopes: readonly Scope[], ok: boolean): void {
  for (const s of scopes) {
    try {
      s.attemptEnd?.(ok);
    } catch (err) {
      hookFailed(log, requestId, 'attemptEnd', err);
    }
  }
}

interface AttemptState {
  readonly id: string;
  readonly scopes: readonly Scope[] | undefined;
  attemptOpen: boolean;
}

/**
 * Ends the admitted attempt once: from the attempt loop when the call returns, or from the
 * completion hook when the response closed first (a stream's last write can close it before
 * the loop resumes), so scopes always hear `attemptEnd` before `finish`.
 */
export function closeAttempt(log: Logger, ctx: AttemptState, ok: boolean): void {
  if (!ctx.attemptOpen) return;
  ctx.attemptOpen = false;
  if (ctx.scopes !== undefined) endAttempt(log, ctx.id, ctx.scopes, ok);
}

export function addHeaders(
  log: Logger,
  requestId: string,
  scopes: readonly Scope[],
  h: OutgoingHttpHeaders,
): void {
  for (const s of scopes) {
    try {
      s.headers?.(h);
    } catch (err) {
      hookFailed(log, requestId, 'headers', err);
    }
  }
}

/**
 * Runs the JSON taps in order; each sees the previous one's body. Synchronous while the taps
 * are (local guardrails, the cache's recorder); a promise from the first tap that returns one.
 */
export function tapJson(
  log: Logger,
  requestId: string,
  scopes: readonly Scope[],
  body: string,
  usage: Usage | undefined,
  /** `JSON.parse(body)` when the caller has it (`TransformResult.value`). */
  value?: object,
): string | GatewayError | Promise<string | GatewayError> {
  return tapFrom(log, requestId, scopes, body, usage, value, 0);
}

/** Hooks get `value` while the body is the one it was parsed from and no hook has failed. */
function tapFrom(
  log: Logger,
  requestId: string,
  scopes: readonly Scope[],
  body: string,
  usage: Usage | undefined,
  value: object | undefined,
  start: number,
): string | GatewayError | Promise<string | GatewayError> {
  let out = body;
  let parsed = value;
  for (let i = start; i < scopes.length; i++) {
    const s = scopes[i] as Scope;
    if (!s.json) continue;
    try {
      const r = s.json(out, usage, parsed);
      if (r instanceof Promise) {
        const before = out;
        const kept = parsed;
        return r.then(
          (v) =>
            v instanceof GatewayError
              ? v
              : tapFrom(log, requestId, scopes, v, usage, v === before ? kept : undefined, i + 1),
          (err: unknown) => {
            hookFailed(log, requestId, 'json', err);
            return tapFrom(log, requestId, scopes, before, usage, undefined, i + 1);
          },
        );
      }
      if (r instanceof GatewayError) return r;
      if (r !== out) parsed = undefined;
      out = r;
    } catch (err) {
      parsed = undefined;
      hookFailed(log, requestId, 'json', err);
    }
  }
  return out;
}

/** The scopes' stream taps chained into one (undefined when none taps). */
export function streamTap(log: Logger, requestId: string, scopes: readonly Scope[]): StreamTap | undefined {
  let taps: StreamTap[] | undefined;
  for (const s of scopes) {
    if (!s.stream) continue;
    try {
      const t = s.stream();
      if (t) {
        if (taps === undefined) taps = [t];
        else taps.push(t);
      }
    } catch (err) {
      hookFailed(log, requestId, 'stream', err);
    }
  }
  if (taps === undefined) return undefined;
  if (taps.length === 1) return guarded(log, requestId, taps[0] as StreamTap);
  const chain = taps.map((t) => guarded(log, requestId, t));
  return {
    attach(write) {
      chain.forEach((t, i) => {
        t.attach?.((text) => {
          let out = text;
          for (let k = i + 1; k < chain.length; k++) out = (chain[k] as StreamTap).push(out);
          if (out.length > 0) write(out);
        });
      });
    },
    push(text) {
      let out = text;
      for (const t of chain) out = t.push(out);
      return out;
    },
    end() {
      // What an earlier tap releases at the end still passes through the later ones.
      return endFrom(chain, 0, '');
    },
  };
}

function endFrom(chain: readonly StreamTap[], i: number, released: string): string | Promise<string> {
  let out = released;
  for (let k = i; k < chain.length; k++) {
    const t = chain[k] as StreamTap;
    const e = concatLater(t.push(out), t.end());
    if (typeof e !== 'string') return e.then((x) => endFrom(chain, k + 1, x));
    out = e;
  }
  return out;
}

function guarded(log: Logger, requestId: string, t: StreamTap): StreamTap {
  let broken = false;
  return {
    attach(write) {
      try {
        t.attach?.(write);
      } catch (err) {
        hookFailed(log, requestId, 'stream.attach', err);
      }
    },
    push(text) {
      if (broken) return text;
      try {
        return t.push(text);
      } catch (err) {
        broken = true;
        hookFailed(log, requestId, 'stream.push', err);
        return text;
      }
    },
    end() {
      if (broken) return '';
      const failed = (err: unknown) => {
        hookFailed(log, requestId, 'stream.end', err);
        return '';
      };
      try {
        const e = t.end();
        return typeof e === 'string' ? e : e.catch(failed);
      } catch (err) {
        return failed(err);
      }
    },
  };
}

/** What a scope opened after its request closed hears: the client went away first. */
const GONE: Outcome = Object.freeze({
  status: 499,
  cancelled: true,
  usage: undefined,
  error: 'client_disconnected',
});

/**
 * Adds a scope an interceptor's `begin` opened to the request's. False when the request has
 * already closed: the client went away while `begin` waited (a rate-limit acquire on Redis or on
 * the pod's primary), so the completion hook has run and would never reach this scope; it is
 * finished here at once, as cancelled (its concurrency slot and reservation go back), and the
 * caller stops.
 */
export function openScope(
  log: Logger,
  ctx: { readonly id: string; scopes: Scope[] | undefined; readonly closed: boolean },
  scope: Scope,
): boolean {
  if (ctx.closed) {
    finishScopes(log, ctx.id, [scope], GONE);
    return false;
  }
  if (ctx.scopes === undefined) ctx.scopes = [scope];
  else ctx.scopes.push(scope);
  return true;
}

export function finishScopes(log: Logger, requestId: string, scopes: readonly Scope[], o: Outcome): void {
  for (const s of scopes) {
    try {
      s.finish?.(o);
    } catch (err) {
      hookFailed(log, requestId, 'finish', err);
    }
  }
}
