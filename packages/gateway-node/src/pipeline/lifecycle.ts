/**
 * The request-lifecycle seam: how cross-cutting features (rate limits, the response cache,
 * guardrails, usage accounting) take part in a request without touching endpoints.
 *
 * An `Interceptor` is compiled once per config snapshot (`compile`: undefined when it applies
 * to no request of that snapshot, so a gateway with nothing configured pays one WeakMap lookup
 * per request). For each request, after authentication, model resolution and the access checks,
 * the active interceptors' `begin` run in order. A `begin` may:
 * - do nothing (undefined),
 * - refuse the request (a catalogue error, answered in the caller's envelope),
 * - answer it (a cache hit: JSON or a replayed SSE stream; no upstream call),
 * - replace the body (what later interceptors and the upstream see),
 * - open a `Scope` that follows the request to its end.
 *
 * A scope may gate each routing attempt (`attempt`: refuse = the target is skipped as a 429
 * attempt), hear how each attempt ended, add success response headers (every success head is
 * written by `http/respond.ts`), tap the JSON body or the streamed output of a success (in the
 * caller's dialect), and `finish` exactly once when the response closes: completed, failed,
 * refused or cancelled by the client.
 *
 * Scope hooks must not throw; a hook that does is logged and ignored (the request goes on).
 */

import type { OutgoingHttpHeaders } from 'node:http';
import type { ConfigSnapshot } from '@aisix/core';
import type { GatewayError } from '../errors.js';
import type { RequestContext, RouteFacts } from './context.js';
import type { Scope } from './scopes.js';

export type Json = Record<string, unknown>;

/** What `begin` sees. */
export interface RequestFacts {
  readonly ctx: RequestContext;
  readonly route: RouteFacts;
  /** The parsed body (as replaced by earlier interceptors). */
  readonly body: Readonly<Json>;
  /** The upstream model id of a direct model (wildcards substituted); undefined for groups. */
  readonly upstreamModel: string | undefined;
}

/** A complete answer given without an upstream call (a cache hit). */
export interface Answer {
  readonly kind: 'json' | 'sse';
  readonly body: string;
  /** Extra success headers (e.g. `x-aisix-cache: hit`). */
  readonly headers?: OutgoingHttpHeaders;
}

export type Begin =
  | undefined
  | {
      readonly refuse?: GatewayError;
      readonly answer?: Answer;
      readonly body?: Json;
      readonly scope?: Scope;
    };

export interface Interceptor<P = unknown> {
  readonly name: string;
  /**
   * Runs after the attempts are planned (data-plane §2 steps 8-9: a direct model's provider key,
   * upstream configuration and adapter checked), so a request refused there never reaches it
   * (rate limits, step 10; the cache, step 13). A body it replaces is planned again at dispatch.
   */
  readonly afterPlan?: boolean;
  compile(snapshot: ConfigSnapshot): P | undefined;
  begin(plan: P, req: RequestFacts): Begin | Promise<Begin>;
}

export interface ActiveInterceptor {
  readonly interceptor: Interceptor;
  readonly plan: unknown;
}

const NONE: readonly ActiveInterceptor[] = Object.freeze([]);

/** Which interceptors apply to a snapshot, compiled on first use and kept as long as it lives. */
export class Lifecycle {
  private readonly compiled = new WeakMap<ConfigSnapshot, readonly ActiveInterceptor[]>();

  constructor(
    private readonly interceptors: readonly Interceptor[],
    private readonly onCompileError: (name: string, err: unknown) => void,
  ) {}

  active(snapshot: ConfigSnapshot): readonly ActiveInterceptor[] {
    if (this.interceptors.length === 0) return NONE;
    let list = this.compiled.get(snapshot);
    if (list === undefined) {
      const out: ActiveInterceptor[] = [];
      for (const i of this.interceptors) {
        try {
          const plan = i.compile(snapshot);
          if (plan !== undefined) out.push({ interceptor: i, plan });
        } catch (err) {
          // A config the interceptor cannot compile must not take serving down with it.
          this.onCompileError(i.name, err);
        }
      }
      list = out.length === 0 ? NONE : out;
      this.compiled.set(snapshot, list);
    }
    return list;
  }
}
