/**
 * Guardrails on realtime frames (agents-and-jobs §7.4): the chain of the model, key and team
 * (the same resolution as on chat); every client text frame is checked as input, every upstream
 * text frame as output, the frame's text as sent. Only a block acts (a frame is never rewritten:
 * masking would change the event the peer parses); monitor hits and bypasses are recorded.
 */
import type { Judgement } from '../guardrails/chain.js';
import type { CompiledGuardrail } from '../guardrails/compile.js';
import { evaluate } from '../guardrails/evaluate.js';
import { verdictRecorder } from '../guardrails/record.js';
import { upstreamHttp } from '../guardrails/remote/http.js';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayRuntime } from '../runtime.js';

export type Phase = 'input' | 'output';

/** The guardrail that blocked a frame, or undefined to relay it. */
export type Verdict = string | undefined;

export interface FrameGuard {
  check(phase: Phase, frame: Buffer): Verdict | Promise<Verdict>;
}

/** The session's guard; undefined when no guardrail applies (frames then cost nothing). */
export function frameGuard(rt: GatewayRuntime, ctx: RequestContext): FrameGuard | undefined {
  const model = ctx.model;
  const key = ctx.apiKey;
  if (model === undefined || key === undefined) return undefined;
  // The model pipeline's plans: one compile per snapshot, with the deployment's settings
  // (`bedrock_endpoint_url`) and its handling of a snapshot that does not compile.
  const chain = rt.guardrails?.modelChain(ctx.snapshot, key, model.id);
  if (chain === undefined) return undefined;
  const input = chain.filter((g) => g.input);
  const output = chain.filter((g) => g.output);
  if (input.length === 0 && output.length === 0) return undefined;
  const recorder = verdictRecorder(rt.metrics.guardrails, rt.logger);
  const record = (phase: Phase, j: Judgement): Verdict => {
    // Frames are never rewritten, so no mask is recorded as done (as the job APIs do).
    recorder(ctx, phase, { ...j, masks: [], redacted: {} });
    return j.block?.guardrail;
  };
  const run = (
    chain: readonly CompiledGuardrail[],
    phase: Phase,
    frame: Buffer,
  ): Verdict | Promise<Verdict> => {
    if (chain.length === 0) return undefined;
    const j = evaluate(chain, frame.toString('utf8'), phase, upstreamHttp(rt.upstreams.base));
    return j instanceof Promise ? j.then((x) => record(phase, x)) : record(phase, j);
  };
  return { check: (phase, frame) => run(phase === 'input' ? input : output, phase, frame) };
}
