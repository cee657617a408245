/**
 * Guardrails on the job APIs: the chain of the serving Model, the caller key and its team (the
 * same resolution and per-snapshot plan as the model endpoints, through `rt.guardrails`). Input members scan the
 * rewritten batch / fine-tuning body and the uploaded file (lossy UTF-8); output members scan
 * upstream answers, downloaded file content included. A block is the catalogue 422; a mask
 * verdict changes nothing here (a file or a job body is not rewritten), so only blocks, monitor
 * hits and bypasses are recorded.
 */
import { MULTIPART_FALLBACK_LIMIT } from '../endpoints/audio.js';
import { errors, type GatewayError } from '../errors.js';
import type { CompiledGuardrail } from '../guardrails/compile.js';
import { evaluate } from '../guardrails/evaluate.js';
import { verdictRecorder } from '../guardrails/record.js';
import { upstreamHttp } from '../guardrails/remote/http.js';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayRuntime } from '../runtime.js';
import type { JobTarget } from './target.js';

export interface JobGuards {
  readonly input: readonly CompiledGuardrail[];
  readonly output: readonly CompiledGuardrail[];
}

/**
 * The most of one body held whole for a scan (or an id rewrite): `proxy.request_body_limit_bytes`
 * when it is larger, else 64 MiB, the cap the buffered multipart routes fall back to. Past it the
 * body is refused, never relayed unscanned.
 */
export function heldLimit(rt: GatewayRuntime): number {
  return Math.max(rt.settings.bodyLimit, MULTIPART_FALLBACK_LIMIT);
}

const NONE: JobGuards = { input: [], output: [] };
export function guardsFor(rt: GatewayRuntime, ctx: RequestContext, t: JobTarget): JobGuards {
  const key = ctx.apiKey;
  if (rt.guardrails === undefined || key === undefined) return NONE;
  const chain = rt.guardrails.modelChain(ctx.snapshot, key, t.model.id);
  if (chain.length === 0) return NONE;
  return { input: chain.filter((g) => g.input), output: chain.filter((g) => g.output) };
}

/** Scans `text`; the 422 to answer when a member blocks, else undefined. */
export async function scan(
  rt: GatewayRuntime,
  ctx: RequestContext,
  chain: readonly CompiledGuardrail[],
  text: string,
  phase: 'input' | 'output',
): Promise<GatewayError | undefined> {
  if (chain.length === 0) return undefined;
  const j = await evaluate(chain, text, phase, upstreamHttp(rt.upstreams.base));
  // Masks are not applied here, so none is recorded as done.
  verdictRecorder(rt.metrics.guardrails, rt.logger)(ctx, phase, { ...j, masks: [], redacted: {} });
  if (j.block === undefined) return undefined;
  return errors.guardrailBlocked(phase === 'input' ? 'request' : 'response', j.block.guardrail);
}
