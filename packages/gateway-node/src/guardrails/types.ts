/**
 * What a scan reports, shared by the compiler (`compile.ts`) and the vendor checks under
 * `remote/` (which the compiler imports, so they cannot import it back).
 */
import type { Resource } from '@aisix/core';

export type Action = 'mask' | 'block';

export interface Finding {
  readonly start: number;
  readonly end: number;
  /** Detector name (`email`, a custom pattern's name, `keyword`): the only thing ever logged. */
  readonly detector: string;
  readonly action: Action;
  /** What a mask writes instead of `[<DETECTOR>_REDACTED]` (a vendor's own replacement). */
  readonly replacement?: string;
}

/** A guardrail resource's document. */
export type GuardrailDoc = Resource<'guardrails'>['value'];
