/**
 * The ingress-dialect seam: how a caller dialect other than OpenAI chat (Anthropic Messages,
 * OpenAI Responses) reaches an upstream through the gateway's one pipeline.
 *
 * A dialect does not dispatch anything itself. For each attempt target the gateway asks it to
 * `select` the adapter that serves that target: a native passthrough adapter when the target
 * speaks the caller's dialect, otherwise a bridge wrapped around the target's family adapter
 * (translate the request to OpenAI chat, let the family adapter do its work, translate the answer
 * back). Either way the result is an ordinary `ProviderAdapter`, so auth, routing, retries,
 * fail-over, deadlines, heartbeats, metrics and the access log stay the gateway's single path.
 *
 * The pure translators live next to each dialect (`anthropic/`, `responses/`); the generic bridge
 * is `shared/bridge.ts`.
 */
import type { AdapterError, ProviderAdapter, ProviderKeyView } from '../contract.js';

/** What a dialect may look at to decide native vs bridged for one target. */
export interface DialectTarget {
  /** The target Model's `provider` (open vendor string), when set. */
  readonly modelProvider: string | undefined;
  readonly providerKey: ProviderKeyView;
}

export type DialectChoice =
  | { readonly ok: true; readonly adapter: ProviderAdapter }
  | { readonly ok: false; readonly error: AdapterError };

export interface IngressDialect {
  /** For logs and tests only. */
  readonly id: string;
  /**
   * The adapter serving this dialect for one target. `family` is what the registry resolved for
   * the target's provider key (undefined when none). Returns undefined when there is no dispatch
   * path (the gateway answers 503 `provider_unavailable`), or a refusal decided before any I/O.
   */
  select(target: DialectTarget, family: ProviderAdapter | undefined): DialectChoice | undefined;
}
