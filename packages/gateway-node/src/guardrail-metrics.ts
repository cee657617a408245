/**
 * Guardrail metrics (data-plane §12.2): the latency of each guardrail evaluation, blocks, and
 * bypasses (a guardrail that did not evaluate, by reason). Labels carry guardrail names, kinds
 * and outcomes only, never what was matched. A part of `Metrics` (`metrics.guardrails`).
 */
import { CounterFamily, type Family, type HistogramCell, HistogramFamily } from './metric-families.js';

export const GUARDRAIL_LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

export type GuardrailPhase = 'input' | 'output';

const RESULTS = ['pass', 'block', 'mask', 'monitor', 'bypass'];
/** Guardrail names remembered for the fast path (a bound, not a limit: beyond it the map restarts). */
const MAX_HOT = 1024;

/** 0-9 for a known phase and result, -1 otherwise. */
function slotOf(phase: GuardrailPhase, result: string): number {
  const r = RESULTS.indexOf(result);
  return r < 0 ? -1 : (phase === 'input' ? 0 : RESULTS.length) + r;
}

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

  /** Cells of evaluations without error, per guardrail name, by `slotOf(phase, result)`. */
  private readonly hot = new Map<string, { kind: string; cells: HistogramCell[] }>();

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
    // The common case (a guardrail that evaluated) finds its cell by index, not by a built key.
    const slot = errorType === 'none' ? slotOf(phase, result) : -1;
    let hot = slot < 0 ? undefined : this.hot.get(guardrail);
    if (hot !== undefined && hot.kind !== kind) hot = undefined;
    let c = hot?.cells[slot];
    if (c === undefined) {
      const key = `${guardrail}\u0001${kind}\u0001${phase}\u0001${result}\u0001${errorType}`;
      c = this.latency.cell(key, () => ({
        env_id: this.envId,
        guardrail,
        kind,
        phase,
        result,
        error_type: errorType,
      }));
      if (slot >= 0) {
        if (hot === undefined) {
          if (this.hot.size >= MAX_HOT) this.hot.clear();
          hot = { kind, cells: [] };
          this.hot.set(guardrail, hot);
        }
        hot.cells[slot] = c;
      }
    }
    this.latency.observe(c, seconds);
  }

  blocked(): void {
    this.blocks.cell('', () => ({})).value++;
  }

  bypassed(reason: string): void {
    this.bypasses.cell(reason, () => ({ reason })).value++;
  }
}
