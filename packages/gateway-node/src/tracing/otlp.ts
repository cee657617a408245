/**
 * The OTLP/JSON span shape (ExportTraceServiceRequest's `Span`, protobuf JSON mapping: ids in
 * lowercase hex, 64-bit times and ints as strings, enums as numbers) and attribute helpers.
 */

import { jsonQuote } from '../json-text.js';

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

/** The epoch second `epochMsToNano` last rendered, and its digits. */
let renderedSecond = -1;
let secondDigits = '';

/** Epoch milliseconds (fractional) as OTLP's decimal nanoseconds, at µs resolution. */
export function epochMsToNano(ms: number): string {
  // µs since the epoch stay well inside 2^53, so no BigInt is needed. Written as the second
  // (rendered once per second) and the zero-padded µs within it: a 16-digit number's
  // conversion to text cost 3x as much.
  const us = Math.round(ms * 1000);
  const second = Math.floor(us / 1e6);
  if (second !== renderedSecond) {
    renderedSecond = second;
    secondDigits = `${second}`;
  }
  const within = us - second * 1e6;
  if (second === 0) return `${within}000`;
  return within >= 100_000
    ? `${secondDigits}${within}000`
    : `${secondDigits}${`${within + 1_000_000}`.slice(1)}000`;
}

/** Wall-clock nanoseconds (µs resolution) for a `performance.now()` reading, as OTLP wants it. */
export function unixNano(perfNow: number): string {
  return epochMsToNano(performance.timeOrigin + perfNow);
}

/** A string attribute's text, for `SpanText.pre` (the key as for `SpanText.str`). */
export function renderStr(key: string, v: string): string {
  return `{"key":"${key}","value":{"stringValue":${jsonQuote(v)}}}`;
}

/**
 * One span written straight to its OTLP/JSON text, without the attribute objects `OtlpSpan`
 * needs: the usage exporter builds two or more spans per request, each written into the
 * exporter's batch buffer at once, so the text is built by appending (a rope the write flattens
 * once) and values are escaped only when they need it.
 * Attribute keys are the caller's literal ASCII names (not escaped); values are escaped.
 */
export class SpanText {
  /** The attributes so far, comma-separated. */
  private attrs = '';

  /** A string attribute unless the value is absent or empty. */
  str(key: string, v: string | null | undefined): this {
    if (v !== undefined && v !== null && v !== '')
      this.add(`{"key":"${key}","value":{"stringValue":${jsonQuote(v)}}}`);
    return this;
  }

  /** A one-element string-array attribute unless the value is absent or empty. */
  strs(key: string, v: string | null | undefined): this {
    if (v !== undefined && v !== null && v !== '')
      this.add(`{"key":"${key}","value":{"arrayValue":{"values":[{"stringValue":${jsonQuote(v)}}]}}}`);
    return this;
  }

  /** An integer attribute unless the value is absent or not finite. */
  int(key: string, v: number | null | undefined): this {
    if (v !== undefined && v !== null && Number.isFinite(v))
      this.add(`{"key":"${key}","value":{"intValue":"${Math.trunc(v)}"}}`);
    return this;
  }

  bool(key: string, v: boolean): this {
    this.add(`{"key":"${key}","value":{"boolValue":${v}}}`);
    return this;
  }

  /** A double attribute unless the value is not finite (JSON has no NaN or Infinity). */
  double(key: string, v: number): this {
    if (Number.isFinite(v)) this.add(`{"key":"${key}","value":{"doubleValue":${v}}}`);
    return this;
  }

  /** An attribute rendered once by `renderStr` (a constant of the exporter). */
  pre(attr: string): this {
    this.add(attr);
    return this;
  }

  /** The attributes so far, comma-separated (for `pre` in another span). */
  attributes(): string {
    return this.attrs;
  }

  private add(attr: string): void {
    this.attrs = this.attrs === '' ? attr : `${this.attrs},${attr}`;
  }

  /** The span's JSON (an element of `scopeSpans[].spans`). */
  text(s: {
    readonly traceId: string;
    readonly spanId: string;
    readonly parentSpanId?: string | undefined;
    readonly name: string;
    readonly kind: number;
    readonly startTimeUnixNano: string;
    readonly endTimeUnixNano: string;
    readonly statusCode: number;
  }): string {
    const parent = s.parentSpanId === undefined ? '' : `"parentSpanId":"${s.parentSpanId}",`;
    return `{"traceId":"${s.traceId}","spanId":"${s.spanId}",${parent}"name":${jsonQuote(s.name)},"kind":${s.kind},"startTimeUnixNano":"${s.startTimeUnixNano}","endTimeUnixNano":"${s.endTimeUnixNano}","attributes":[${this.attrs}],"status":{"code":${s.statusCode}}}`;
  }
}
