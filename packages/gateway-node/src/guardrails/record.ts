/**
 * Recording a chain's verdict on a request: guardrail metrics (latency, blocks, bypasses), the
 * trace, the request's usage fields (`ctx.guardrails`) and one log line naming guardrails and
 * detectors only (what matched is never logged). Shared by the model pipeline's interceptor and
 * the model-less surfaces (MCP `tools/call`), so both count and report the same way.
 */
import type { Logger } from 'pino';
import type { GuardrailMetrics, GuardrailPhase } from '../guardrail-metrics.js';
import type { GuardrailUsage, RequestContext } from '../pipeline/context.js';
import type { Judgement } from './chain.js';

export type VerdictRecorder = (ctx: RequestContext, phase: GuardrailPhase, j: Judgement) => void;

/** The request's guardrail usage fields, created on the first verdict. */
export function usageOf(ctx: RequestContext): GuardrailUsage {
  ctx.guardrails ??= {
    blocked: false,
    bypassedReason: null,
    applied: [],
    redacted: {},
    monitorHits: [],
    evaluations: [],
  };
  return ctx.guardrails;
}

export function verdictRecorder(m: GuardrailMetrics, logger: Logger): VerdictRecorder {
  return (ctx, phase, j) => {
    const u = usageOf(ctx);
    const endedAt = performance.now();
    for (const t of j.timings) {
      m.observe(t.guardrail, t.kind, phase, t.result, t.errorType, t.seconds);
      const ev = { ...t, phase, endedAt };
      ctx.trace?.guardrail(ev);
      u.evaluations.push(ev);
      if (!u.applied.some((a) => a.kind === t.kind && a.hook === phase))
        u.applied.push({ kind: t.kind, hook: phase });
    }
    for (const b of j.bypasses) {
      m.bypassed(b.reason);
      u.bypassedReason ??= b.reason;
    }
    for (const [detector, n] of Object.entries(j.redacted))
      u.redacted[detector] = (u.redacted[detector] ?? 0) + n;
    for (const h of j.hits) {
      const hit = `${h.guardrail}:${h.detector}:${h.verdict}`;
      if (!u.monitorHits.includes(hit)) u.monitorHits.push(hit);
    }
    if (j.block !== undefined) {
      m.blocked();
      ctx.errorType = 'content_filter';
      u.blocked = true;
    }
    if (j.hits.length > 0 || j.block !== undefined || j.masks.length > 0 || j.bypasses.length > 0)
      logger.info(
        {
          request_id: ctx.id,
          phase,
          blocked_by: j.block?.guardrail,
          detector: j.block?.detector,
          redacted_entity_counts: j.masks.length > 0 ? j.redacted : undefined,
          monitor_hits: j.hits.length > 0 ? j.hits : undefined,
          bypassed: j.bypasses.length > 0 ? j.bypasses : undefined,
        },
        'guardrail verdict',
      );
  };
}
