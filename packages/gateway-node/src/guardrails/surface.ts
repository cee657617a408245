/**
 * Guardrails for the model-less surfaces (agents-and-jobs §2.7 steps 3-6: MCP `tools/call`):
 * the chain is resolved for (no model, caller key, key team), so only environment-, key- and
 * team-attached guardrails apply, never model-scoped ones. Plans, the remote-vendor HTTP and
 * the recorder are the model pipeline's own (`interceptors/guardrails.ts`): one compile per
 * snapshot, the same kinds, metrics and usage fields.
 */
import type { ConfigSnapshot, Resource } from '@aisix/core';
import type { GuardrailPhase } from '../guardrail-metrics.js';
import type { RequestContext } from '../pipeline/context.js';
import type { Judgement } from './chain.js';
import type { CompiledGuardrail } from './compile.js';
import { evaluate } from './evaluate.js';
import type { VerdictRecorder } from './record.js';
import type { GuardrailHttp } from './remote/http.js';
import type { GuardrailPlan } from './resolve.js';

const NONE: readonly CompiledGuardrail[] = Object.freeze([]);

export class SurfaceGuardrails {
  constructor(
    private readonly planOf: (s: ConfigSnapshot) => GuardrailPlan | undefined,
    private readonly record: VerdictRecorder,
    private readonly http: GuardrailHttp,
  ) {}

  /** The caller's chain without a model (empty: nothing to scan, nothing to buffer). */
  chain(snapshot: ConfigSnapshot, key: Resource<'api_keys'>): readonly CompiledGuardrail[] {
    const plan = this.planOf(snapshot);
    if (plan === undefined) return NONE;
    const team = (key.value as { team_id?: string }).team_id;
    // No model id: `model` attachments (which always name one) never match.
    return plan.chainFor('', key.id, team);
  }

  /** The chain of a call served by `modelId` (the job APIs: the serving Model's guardrails too). */
  modelChain(
    snapshot: ConfigSnapshot,
    key: Resource<'api_keys'>,
    modelId: string,
  ): readonly CompiledGuardrail[] {
    const plan = this.planOf(snapshot);
    if (plan === undefined) return NONE;
    return plan.chainFor(modelId, key.id, (key.value as { team_id?: string }).team_id);
  }

  /** `chain` over `text`, recorded on the request (metrics, usage fields, the verdict log). */
  async scan(
    ctx: RequestContext,
    chain: readonly CompiledGuardrail[],
    phase: GuardrailPhase,
    text: string,
  ): Promise<Judgement> {
    const j = await evaluate(chain, text, phase, this.http);
    this.record(ctx, phase, j);
    return j;
  }
}
