/**
 * The resource fields the data plane reads (data-plane §5.1), as structural views over the
 * snapshot's typed documents. One place converts a served resource into its view, so the rest of
 * the gateway does not depend on how core's schema output types evolve.
 */
import type { RateLimit, Resource } from '@aisix/core';
import type { ProviderKeyView } from '@aisix/providers';

export interface RoutingTargetView {
  readonly model: string;
  readonly weight?: number;
  readonly tags?: readonly string[];
}

export interface RoutingView {
  readonly strategy?: string;
  readonly targets: readonly RoutingTargetView[];
  readonly retries?: number;
  readonly max_fallbacks?: number;
  readonly retry_on_429?: boolean;
  readonly fallback_on_statuses?: readonly number[];
  readonly sticky?: boolean;
  readonly when_all_unavailable?: 'fail' | 'try_anyway';
}

export interface BackgroundCheckView {
  readonly enabled: boolean;
  readonly interval_seconds: number;
  readonly timeout_seconds: number;
  readonly prompt: string;
  readonly max_tokens: number;
  readonly stale_after_seconds: number;
  readonly ignore_statuses?: readonly number[];
}

export interface ModelView {
  readonly display_name: string;
  readonly provider?: string;
  readonly model_name?: string;
  readonly provider_key_id?: string;
  readonly timeout?: number;
  readonly stream_timeout?: number;
  readonly retries?: number;
  readonly allowed_cidrs?: readonly string[];
  readonly rate_limit?: RateLimit;
  readonly cost?: { readonly input_per_1k: number; readonly output_per_1k: number };
  readonly background_model_check?: BackgroundCheckView;
  readonly auto_prompt_caching?: { readonly enabled: boolean; readonly ttl?: '5m' | '1h' };
  readonly embedding?: { readonly dimensions: number; readonly normalize?: boolean };
  readonly routing?: RoutingView;
  readonly ensemble?: EnsembleView;
  readonly semantic?: SemanticView;
}

export interface EnsembleView {
  readonly panel: readonly {
    readonly model: string;
    readonly temperature?: number;
    readonly seed?: number;
  }[];
  readonly judge: { readonly model: string; readonly synthesis_prompt?: string };
  readonly min_responses?: number;
  readonly timeout_ms?: number;
}

export interface SemanticRouteView {
  readonly name: string;
  readonly target: string;
  readonly examples: readonly string[];
  readonly threshold?: number;
}

export interface SemanticView {
  readonly embedding_model?: string;
  readonly default?: string;
  readonly match: { readonly threshold: number };
  readonly routes: readonly SemanticRouteView[];
  readonly embedding_timeout_ms?: number;
  readonly on_embedding_failure?: 'default' | 'fail' | { readonly target: string };
}

export interface ApiKeyView {
  readonly key_hash: string;
  readonly allowed_models: readonly string[];
  readonly display_name?: string | null;
  readonly team_id?: string;
  readonly user_id?: string;
  readonly user_name?: string;
  readonly expires_at?: string | null;
  readonly disabled?: boolean;
  /** Keys replaced by a rotation with a grace window, each valid until its `expires_at`. */
  readonly previous_keys?: readonly { readonly key_hash: string; readonly expires_at: string }[];
}

export function modelView(r: Resource<'models'>): ModelView {
  return r.value;
}

export function apiKeyView(r: Resource<'api_keys'>): ApiKeyView {
  return r.value;
}

export function providerKeyView(r: Resource<'provider_keys'>): ProviderKeyView {
  return r.value;
}

/** Kind of a model for `/status/models` and dispatch. */
export function modelKind(m: ModelView): 'direct' | 'routing' | 'ensemble' | 'semantic' {
  if (m.routing) return 'routing';
  if (m.ensemble) return 'ensemble';
  if (m.semantic) return 'semantic';
  return 'direct';
}
