/**
 * Semantic routing (agents-and-jobs §8.2): pick a target alias from the last user message by
 * cosine similarity to each route's examples. The prompt and every example not yet embedded go
 * out in one batched embeddings call; example vectors are kept per process, keyed by
 * (embedding Model id, dimensions, text) plus the Model's provider key and upstream model. The caller (`dispatch.ts`) serves the chosen alias
 * like a one-target routing group.
 */
import { resolveModel } from '@aisix/core';
import { errors, type GatewayError } from '../errors.js';
import { embedBatch } from '../interceptors/embed.js';
import { modelKind, modelView, type SemanticRouteView, type SemanticView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import type { RequestContext } from './context.js';

export interface SemanticChoice {
  readonly alias: string;
  /** The matched route's name; undefined on default fall-through and embedding failure. */
  readonly route: string | undefined;
}

/** Example vectors; config churn could grow it without bound, so it is reset at this size. */
const MAX_CACHED = 10_000;
const exampleVectors = new Map<string, Float32Array>();

/** The text content of the last `user` message ('' when none or no text). */
export function lastUserText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: unknown; content?: unknown } | null;
    if (m === null || typeof m !== 'object' || m.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (!Array.isArray(m.content)) return '';
    const parts: string[] = [];
    for (const p of m.content as { type?: unknown; text?: unknown }[]) {
      if (p !== null && typeof p === 'object' && p.type === 'text' && typeof p.text === 'string')
        parts.push(p.text);
    }
    return parts.join('\n');
  }
  return '';
}

/** Cosine similarity; 0 on a length mismatch or a zero vector. */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length || a.length === 0) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

/** Winner index: highest score ≥ its threshold, earlier route on ties; -1 when none. */
export function pickRoute(
  routes: readonly SemanticRouteView[],
  scores: readonly number[],
  defaultThreshold: number,
): number {
  let best = -1;
  for (let i = 0; i < routes.length; i++) {
    const s = scores[i] as number;
    if (s < ((routes[i] as SemanticRouteView).threshold ?? defaultThreshold)) continue;
    if (best === -1 || s > (scores[best] as number)) best = i;
  }
  return best;
}

function noDefault(): GatewayError {
  return errors.invalidBody('no semantic route matched and the model has no `default`');
}

function toDefault(sem: SemanticView): SemanticChoice | GatewayError {
  return sem.default === undefined ? noDefault() : { alias: sem.default, route: undefined };
}

function onFailure(sem: SemanticView): SemanticChoice | GatewayError {
  const p = sem.on_embedding_failure ?? 'default';
  if (p === 'fail') return errors.providerUnavailable();
  if (p === 'default') return toDefault(sem);
  return { alias: p.target, route: undefined };
}

export async function chooseSemantic(
  rt: GatewayRuntime,
  ctx: RequestContext,
  sem: SemanticView,
  messages: unknown,
): Promise<SemanticChoice | GatewayError> {
  const text = lastUserText(messages);
  if (text === '') return toDefault(sem);
  const alias = sem.embedding_model;
  const resolved = alias === undefined ? undefined : resolveModel(ctx.snapshot, alias);
  if (alias === undefined || resolved === undefined) return onFailure(sem);
  const ev = modelView(resolved.model);
  if (modelKind(ev) !== 'direct' || ev.embedding === undefined) return onFailure(sem);
  const dims = ev.embedding.dimensions;
  // The vector space: the Model id and dimensions (§8.2 step 3), and the upstream model and
  // provider key it embeds with, so an edited Model never mixes vectors of two models.
  const upstream = resolved.upstreamModel ?? ev.model_name ?? '';
  const prefix = `${resolved.model.id}\u0000${dims}\u0000${ev.provider_key_id ?? ''}\u0000${upstream}\u0000`;
  if (exampleVectors.size > MAX_CACHED) exampleVectors.clear();
  const missing: string[] = [];
  const seen = new Set<string>();
  for (const r of sem.routes) {
    for (const e of r.examples) {
      if (!exampleVectors.has(prefix + e) && !seen.has(e)) {
        seen.add(e);
        missing.push(e);
      }
    }
  }
  const batch = await embedBatch(
    rt,
    ctx,
    alias,
    [text, ...missing],
    { encoding_format: 'float', dimensions: dims },
    sem.embedding_timeout_ms,
  );
  const prompt = batch?.vectors[0];
  if (batch === undefined || prompt === undefined) return onFailure(sem);
  for (let i = 0; i < missing.length; i++) {
    exampleVectors.set(prefix + (missing[i] as string), batch.vectors[i + 1] as Float32Array);
  }
  const scores: number[] = [];
  for (const r of sem.routes) {
    // The max cosine itself (§8.2 step 4), negative included: a route whose examples all point
    // away from the prompt stays below a threshold of 0.
    let best = Number.NEGATIVE_INFINITY;
    for (const e of r.examples) {
      const v = exampleVectors.get(prefix + e);
      const s = v === undefined ? 0 : cosine(prompt, v);
      if (s > best) best = s;
    }
    scores.push(best === Number.NEGATIVE_INFINITY ? 0 : best);
  }
  const won = pickRoute(sem.routes, scores, sem.match.threshold);
  if (won === -1) return toDefault(sem);
  const r = sem.routes[won] as SemanticRouteView;
  return { alias: r.target, route: r.name };
}
