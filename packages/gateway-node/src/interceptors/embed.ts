/**
 * One embeddings call made by the gateway for itself (semantic cache, semantic routing): the model is
 * looked up in the request's snapshot like any alias and prepared by its own adapter, so every
 * provider that serves `/v1/embeddings` can embed; the call uses the gateway's upstream agent
 * and a deadline of its own, and nothing of it reaches the caller. Any failure is `undefined`:
 * the semantic layer then degrades to exact-only for that request, semantic routing applies its
 * `on_embedding_failure` policy.
 */
import { resolveModel, timerMs } from '@aisix/core';
import type { RequestContext } from '../pipeline/context.js';
import { modelKind, modelView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { authorizeTarget } from '../upstream/authorize.js';
import { readCapped, sendUpstream } from '../upstream/client.js';
import { buildTarget } from '../upstream/target.js';

export interface Embedding {
  readonly vector: Float32Array;
  /** What identifies the vector space (model id, upstream name, dimensions). */
  readonly identity: { readonly id: string; readonly name: string; readonly dimensions?: number | undefined };
}

/** An embedding answer larger than this is not one we can use. */
const MAX_EMBEDDING_BODY = 4 * 1024 * 1024;
/** Used when the policy sets no `embedding_timeout_ms`: the request is waiting on this call. */
const DEFAULT_TIMEOUT_MS = 5000;

export async function embedText(
  rt: GatewayRuntime,
  ctx: RequestContext,
  alias: string,
  text: string,
  timeoutMs: number | undefined,
): Promise<Embedding | undefined> {
  const r = await embedBatch(rt, ctx, alias, text, {}, timeoutMs);
  const vector = r?.vectors[0];
  return r === undefined || vector === undefined ? undefined : { vector, identity: r.identity };
}

export interface EmbeddingBatch {
  /** One vector per input, in input order. */
  readonly vectors: readonly Float32Array[];
  readonly identity: Embedding['identity'];
}

/**
 * One embeddings call for `input` (a string or a batch); `extra` joins the request body
 * (`encoding_format`, `dimensions`). Undefined on any failure, or when the answer does not
 * carry exactly one numeric vector per input.
 */
export async function embedBatch(
  rt: GatewayRuntime,
  ctx: RequestContext,
  alias: string,
  input: string | readonly string[],
  extra: Readonly<Record<string, unknown>>,
  timeoutMs: number | undefined,
): Promise<EmbeddingBatch | undefined> {
  const resolved = resolveModel(ctx.snapshot, alias);
  if (!resolved || modelKind(modelView(resolved.model)) !== 'direct') return undefined;
  const view = modelView(resolved.model);
  const upstreamModel = resolved.upstreamModel ?? view.model_name ?? '';
  const count = typeof input === 'string' ? 1 : input.length;
  // The embeddings call is never a stream, whatever the caller asked for.
  const embedCtx: RequestContext = { ...ctx, stream: false };
  const built = buildTarget(
    rt,
    embedCtx,
    'embeddings',
    { model: alias, input, ...extra },
    resolved.model,
    upstreamModel,
    undefined,
  );
  if (!built.ok) return undefined;
  let t = built.target;
  if (t.adapter.authorize) {
    const auth = await authorizeTarget(embedCtx, t, false);
    if (!auth.ok) return undefined;
    t = auth.target;
  }
  const p = t.prepared;
  try {
    const r = await sendUpstream(
      t.dispatcher,
      p,
      // A u64: past a timer's range it means "practically never" (not 1 ms, nor a RangeError).
      AbortSignal.timeout(timeoutMs !== undefined && timeoutMs > 0 ? timerMs(timeoutMs) : DEFAULT_TIMEOUT_MS),
    );
    const body = await readCapped(r.body, MAX_EMBEDDING_BODY * count);
    if (r.statusCode < 200 || r.statusCode >= 300) return undefined;
    const out = t.adapter.transformResponse('embeddings', body, alias, p);
    if (!out.ok) return undefined;
    const parsed = JSON.parse(out.body) as { data?: { embedding?: unknown; index?: unknown }[] };
    const data = parsed.data;
    if (!Array.isArray(data) || data.length !== count) return undefined;
    const vectors: Float32Array[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const d = data[i];
      const at = typeof d?.index === 'number' ? d.index : i;
      const e = d?.embedding;
      if (at < 0 || at >= count || !Array.isArray(e) || e.length === 0) return undefined;
      if (!e.every((x) => typeof x === 'number')) return undefined;
      vectors[at] = Float32Array.from(e as number[]);
    }
    for (let i = 0; i < count; i++) if (vectors[i] === undefined) return undefined;
    return {
      vectors,
      identity: { id: resolved.model.id, name: upstreamModel, dimensions: view.embedding?.dimensions },
    };
  } catch {
    return undefined;
  }
}
