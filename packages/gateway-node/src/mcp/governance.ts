/**
 * Guardrails on MCP `tools/call` (agents-and-jobs §2.7 steps 3, 4 and 6). The chain is the
 * caller's without a model (`guardrails/surface.ts`); an empty chain costs nothing.
 *
 * - Input: the compact JSON of `params.arguments` (empty when absent) is scanned as one text. A
 *   block is the JSON-RPC error `-32600`; masks are applied to that JSON and the masked
 *   arguments are what the upstream receives.
 * - Output: the `text` of every `text` block of `result.content[]`, joined by newlines (no such
 *   block: the whole result serialized). A block is `-32600`; masks rewrite those text blocks
 *   (or the serialized result). Masked text blocks drop `structuredContent`, which would carry
 *   the unmasked values.
 *
 * Masks on serialized JSON write JSON-escaped tokens; a span that cut through the JSON syntax
 * leaves no valid document, and the call is then blocked (fail closed), never sent half-masked.
 */
import type { Judgement, Mask } from '../guardrails/chain.js';
import { applyMasks, maskPieces } from '../guardrails/chain.js';
import type { CompiledGuardrail } from '../guardrails/compile.js';
import type { SurfaceGuardrails } from '../guardrails/surface.js';
import type { RequestContext } from '../pipeline/context.js';
import { RpcError } from './rpc-error.js';
import type { CallResult } from './upstream.js';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function blocked(what: 'call' | 'result', guardrail: string): RpcError {
  const by = guardrail === '' ? '' : ` (guardrail '${guardrail}')`;
  return new RpcError(-32600, `tool ${what} blocked by content policy${by}`);
}

/** The guardrail that masked (named by a refusal when the masked JSON is unusable). */
const masker = (j: Judgement) => j.timings.find((t) => t.result === 'mask')?.guardrail ?? '';

/** `json` with the masks applied as JSON string content; undefined if it no longer parses. */
function maskJson(json: string, masks: readonly Mask[]): unknown {
  const escaped = masks.map((m) => ({
    start: m.start,
    end: m.end,
    token: JSON.stringify(m.token).slice(1, -1),
  }));
  try {
    return JSON.parse(applyMasks(json, escaped));
  } catch {
    return undefined;
  }
}

/** The arguments to forward (masked when a guardrail masked them); throws the block error. */
export async function guardArguments(
  g: SurfaceGuardrails,
  ctx: RequestContext,
  chain: readonly CompiledGuardrail[],
  args: unknown,
): Promise<unknown> {
  const input = chain.filter((c) => c.input);
  if (input.length === 0) return args;
  const json = args === undefined ? '' : JSON.stringify(args);
  const j = await g.scan(ctx, input, 'input', json);
  if (j.block !== undefined) throw blocked('call', j.block.guardrail);
  if (j.masks.length === 0) return args;
  const masked = maskJson(json, j.masks);
  if (!isObject(masked) && isObject(args)) throw blocked('call', masker(j));
  return masked;
}

/** The result to answer (masked when a guardrail masked it); throws the block error. */
export async function guardResult(
  g: SurfaceGuardrails,
  ctx: RequestContext,
  chain: readonly CompiledGuardrail[],
  result: CallResult,
): Promise<CallResult> {
  const output = chain.filter((c) => c.output);
  if (output.length === 0) return result;
  const at: number[] = [];
  const texts: string[] = [];
  result.content.forEach((b, i) => {
    if (isObject(b) && b.type === 'text' && typeof b.text === 'string') {
      at.push(i);
      texts.push(b.text);
    }
  });
  const whole = at.length === 0 ? JSON.stringify(result) : undefined;
  const j = await g.scan(ctx, output, 'output', whole ?? texts.join('\n'));
  if (j.block !== undefined) throw blocked('result', j.block.guardrail);
  if (j.masks.length === 0) return result;
  const isError = result.isError !== undefined ? { isError: result.isError } : {};
  if (whole !== undefined) {
    const masked = maskJson(whole, j.masks);
    if (!isObject(masked) || !Array.isArray(masked.content)) throw blocked('result', masker(j));
    const sc = masked.structuredContent;
    return { content: masked.content, ...(sc !== undefined ? { structuredContent: sc } : {}), ...isError };
  }
  const out = maskPieces(texts, 1, j.masks);
  const content = [...result.content];
  at.forEach((i, k) => {
    content[i] = { ...(content[i] as Record<string, unknown>), text: out[k] };
  });
  return { content, ...isError };
}
