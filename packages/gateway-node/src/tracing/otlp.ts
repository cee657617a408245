/**
 * The OTLP/JSON span shape (ExportTraceServiceRequest's `Span`, protobuf JSON mapping: ids in
 * lowercase hex, 64-bit times and ints as strings, enums as numbers) and attribute helpers.
 */

export const SPAN_KIND_INTERNAL = 1;
export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;
export const STATUS_OK = 1;
export const STATUS_ERROR = 2;

export type OtlpValue =
  | { readonly stringValue: string }
  | { readonly intValue: string }
  | { readonly boolValue: boolean }
  | { readonly doubleValue: number }
  | { readonly arrayValue: { readonly values: { readonly stringValue: string }[] } };

export interface OtlpAttribute {
  readonly key: string;
  readonly value: OtlpValue;
}

export interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly attributes: OtlpAttribute[];
  readonly status: { readonly code: number; readonly message?: string };
}

/** Appends a string attribute unless the value is absent or empty. */
export function str(out: OtlpAttribute[], key: string, v: string | null | undefined): void {
  if (v !== undefined && v !== null && v !== '') out.push({ key, value: { stringValue: v } });
}

/** Appends a string-array attribute (e.g. `gen_ai.response.finish_reasons`) unless the value is absent or empty. */
export function strs(out: OtlpAttribute[], key: string, v: string | null | undefined): void {
  if (v !== undefined && v !== null && v !== '')
    out.push({ key, value: { arrayValue: { values: [{ stringValue: v }] } } });
}

/** Appends an integer attribute unless the value is absent or not a finite number. */
export function int(out: OtlpAttribute[], key: string, v: number | undefined): void {
  if (v !== undefined && Number.isFinite(v)) out.push({ key, value: { intValue: String(Math.trunc(v)) } });
}

export function bool(out: OtlpAttribute[], key: string, v: boolean): void {
  out.push({ key, value: { boolValue: v } });
}

/** Wall-clock nanoseconds (µs resolution) for a `performance.now()` reading, as OTLP wants it. */
export function unixNano(perfNow: number): string {
  return (BigInt(Math.round((performance.timeOrigin + perfNow) * 1000)) * 1000n).toString();
}
