/**
 * Guardrail metrics (data-plane §12.2): the latency of each guardrail evaluation, blocks, and
 * bypasses (a guardrail that did not evaluate, by reason). Labels carry guardrail names, kinds
 * and outcomes only, never what was matched. A part of `Metrics` (`metrics.guardrails`).
 */
import { CounterFamily, type Family, HistogramFamily } from './metric-families.js';

export const GUARDRAIL_LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

export type GuardrailPhase = 'input' | 'output';

export class GuardrailMetrics {
  private readonly latency = new HistogramFamily(
    'aisix_guardrail_latency_seconds',
    'Time spent evaluating one guardrail on one text, by guardrail, kind, phase and result.',
    GUARDRAIL_LATENCY_BUCKETS,
  );
  private readonly blocks = new CounterFamily(
    'aisix_guardrail_blocks_total',
    'Requests or responses blocked by a guardrail.',
  );
  private readonly bypasses = new CounterFamily(
    'aisix_guardrail_bypasses_total',
    'Guardrail evaluations skipped, by reason (e.g. buffer_exceeded with on_buffer_exceeded: fail_open).',
  );

  constructor(private readonly envId: string) {}

  families(): Family[] {
    return [this.latency, this.blocks, this.bypasses];
  }

  observe(
    guardrail: string,
    kind: string,
    phase: GuardrailPhase,
    result: string,
    errorType: string,
    seconds: number,
  ): void {
    const key = `${guardrail}\u0001${kind}\u0001${phase}\u0001${result}\u0001${errorType}`;
    const c = this.latency.cell(key, () => ({
      env_id: this.envId,
      guardrail,
      kind,
      phase,
      result,
      error_type: errorType,
    }));
    this.latency.observe(c, seconds);
  }

  blocked(): void {
    this.blocks.cell('', () => ({})).value++;
  }

  bypassed(reason: string): void {
    this.bypasses.cell(reason, () => ({ reason })).value++;
  }
}
