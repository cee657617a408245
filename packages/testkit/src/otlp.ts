/**
 * OTLP/HTTP JSON trace bodies read with the official OpenTelemetry definitions: the protobufjs
 * code generated from opentelemetry-proto that `@opentelemetry/otlp-transformer` ships
 * (0.216.0 is its last release whose `build/src/generated/root.js` still holds
 * `collector.trace.v1.ExportTraceServiceRequest`; 0.217.0 keeps only metrics there and later
 * releases ship no generated root; the decoder needs only protobufjs/minimal, so Node 20 is fine).
 *
 * A body passes only if the official message accepts all of it: the JSON (OTLP's JSON mapping:
 * lowerCamelCase fields, hex trace/span ids, integer enums, 64-bit integers as decimal strings)
 * goes through `fromObject`, `verify` must report no error, the message survives a protobuf
 * `encode`/`decode` round trip (verified again), and the decoded message printed back as OTLP
 * JSON must equal the body. So an unknown or misspelt field, a string enum, a wrong value type or
 * a malformed id fails with the official reader's reason instead of being silently dropped.
 */

import { deepStrictEqual } from 'node:assert/strict';
import generated from '@opentelemetry/otlp-transformer/build/src/generated/root.js';

/** The attribute values the gateway emits (OTLP `AnyValue` subset; anything else fails decoding). */
export type DecodedValue =
  | { readonly stringValue: string }
  | { readonly intValue: string }
  | { readonly boolValue: boolean }
  | { readonly doubleValue: number }
  | { readonly arrayValue: { readonly values?: readonly DecodedValue[] } };

export interface DecodedAttribute {
  readonly key: string;
  readonly value: DecodedValue;
}

/** A span as decoded: ids in lowercase hex, times as decimal nanosecond strings. */
export interface DecodedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly attributes: readonly DecodedAttribute[];
  readonly status: { readonly code?: number; readonly message?: string };
}

export interface DecodedTraceRequest {
  readonly resourceSpans: readonly {
    readonly resource: { readonly attributes: readonly DecodedAttribute[] };
    readonly scopeSpans: readonly {
      readonly scope: { readonly name: string; readonly version: string };
      readonly spans: readonly DecodedSpan[];
    }[];
  }[];
}

/** The static protobufjs message class shape (the generated root is a plain object tree). */
interface MessageClass {
  verify(message: object): string | null;
  fromObject(object: object): object;
  encode(message: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
  toObject(message: object, options: object): Record<string, unknown>;
}

function isMessageClass(x: unknown): x is MessageClass {
  return (
    typeof x === 'function' &&
    ['verify', 'fromObject', 'encode', 'decode', 'toObject'].every(
      (f) => typeof Reflect.get(x, f) === 'function',
    )
  );
}

function lookup(path: string): MessageClass {
  let node: unknown = generated;
  for (const part of path.split('.')) {
    node = typeof node === 'object' || typeof node === 'function' ? Reflect.get(node ?? {}, part) : undefined;
  }
  if (!isMessageClass(node)) throw new Error(`otlp-transformer's generated root has no message ${path}`);
  return node;
}

const ExportTraceServiceRequest = lookup('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

/** toObject options giving OTLP's JSON mapping (bytes are turned from base64 into hex below). */
const JSON_FORM = { longs: String, enums: Number, bytes: String, arrays: true };

export class OtlpDecodeError extends Error {
  override readonly name = 'OtlpDecodeError';
}

const HEX_ID = { traceId: 32, spanId: 16, parentSpanId: 16 } as const;

type IdMap = (value: unknown, field: keyof typeof HEX_ID, where: string) => unknown;

const field = (o: unknown, k: string): unknown =>
  typeof o === 'object' && o !== null ? Reflect.get(o, k) : undefined;
const list = (o: unknown, k: string): unknown[] => {
  const v = field(o, k);
  return Array.isArray(v) ? v : [];
};

/** Applies `f` to every trace/span id in an ExportTraceServiceRequest-shaped tree (spans and links). */
function mapIds<T>(req: T, f: IdMap): T {
  const fix = (o: unknown, fields: (keyof typeof HEX_ID)[], where: string) => {
    if (typeof o !== 'object' || o === null) return;
    for (const k of fields) if (k in o) Reflect.set(o, k, f(Reflect.get(o, k), k, where));
  };
  list(req, 'resourceSpans').forEach((rs, i) => {
    list(rs, 'scopeSpans').forEach((ss, j) => {
      list(ss, 'spans').forEach((s, n) => {
        const where = `resourceSpans[${i}].scopeSpans[${j}].spans[${n}]`;
        fix(s, ['traceId', 'spanId', 'parentSpanId'], where);
        list(s, 'links').forEach((l, m) => {
          fix(l, ['traceId', 'spanId'], `${where}.links[${m}]`);
        });
      });
    });
  });
  return req;
}

/** OTLP JSON ids are hex (not protobuf JSON's base64): checked, then turned into bytes. */
const hexToBytes: IdMap = (v, name, where) => {
  const len = HEX_ID[name];
  if (typeof v !== 'string' || !new RegExp(`^[0-9a-fA-F]{${len}}$`).test(v) || /^0+$/.test(v))
    throw new OtlpDecodeError(
      `${where}.${name}: want ${len} hex digits, not all zero; got ${JSON.stringify(v)}`,
    );
  return Buffer.from(v, 'hex');
};
const base64ToHex: IdMap = (v) => (typeof v === 'string' ? Buffer.from(v, 'base64').toString('hex') : v);
const lowerHex: IdMap = (v) => (typeof v === 'string' ? v.toLowerCase() : v);

/**
 * `out` without the empty arrays `toObject` adds for repeated fields the body left out (protobuf
 * does not tell an absent repeated field from an empty one); everything else must match.
 */
function alignEmptyArrays(out: unknown, body: unknown): unknown {
  if (Array.isArray(out))
    return out.map((x, i) => alignEmptyArrays(x, Array.isArray(body) ? body[i] : undefined));
  if (typeof out !== 'object' || out === null) return out;
  const res: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(out)) {
    const b = field(body, k);
    if (Array.isArray(x) && x.length === 0 && b === undefined) continue;
    res[k] = alignEmptyArrays(x, b);
  }
  return res;
}

const VALUE_KINDS = ['stringValue', 'intValue', 'boolValue', 'doubleValue', 'arrayValue'];

function checkAttributes(attrs: unknown, where: string): void {
  if (!Array.isArray(attrs)) throw new OtlpDecodeError(`${where}: attributes missing`);
  for (const a of attrs) checkValue(field(a, 'value'), `${where} attribute ${String(field(a, 'key'))}`);
}

function checkValue(v: unknown, where: string): void {
  const keys = typeof v === 'object' && v !== null ? Object.keys(v) : [];
  const k = keys[0] ?? '';
  if (keys.length !== 1 || !VALUE_KINDS.includes(k))
    throw new OtlpDecodeError(`${where}: unexpected AnyValue ${JSON.stringify(v)}`);
  if (k === 'arrayValue')
    list(field(v, k), 'values').forEach((x, i) => {
      checkValue(x, `${where}[${i}]`);
    });
}

const SPAN_FIELDS = {
  traceId: 'string',
  spanId: 'string',
  name: 'string',
  kind: 'number',
  startTimeUnixNano: 'string',
  endTimeUnixNano: 'string',
  status: 'object',
} as const;

/** The decoded message holds what `DecodedTraceRequest` promises (every field the gateway always sets). */
function checkShape(req: unknown): asserts req is DecodedTraceRequest {
  const rss = list(req, 'resourceSpans');
  if (rss.length === 0) throw new OtlpDecodeError('no resourceSpans');
  rss.forEach((rs, i) => {
    checkAttributes(field(field(rs, 'resource'), 'attributes'), `resourceSpans[${i}].resource`);
    list(rs, 'scopeSpans').forEach((ss, j) => {
      const scope = field(ss, 'scope');
      if (typeof field(scope, 'name') !== 'string' || typeof field(scope, 'version') !== 'string')
        throw new OtlpDecodeError(`resourceSpans[${i}].scopeSpans[${j}]: scope name/version missing`);
      list(ss, 'spans').forEach((s, n) => {
        const where = `resourceSpans[${i}].scopeSpans[${j}].spans[${n}]`;
        for (const [k, t] of Object.entries(SPAN_FIELDS))
          if (typeof field(s, k) !== t) throw new OtlpDecodeError(`${where}.${k}: ${t} missing`);
        checkAttributes(field(s, 'attributes'), where);
      });
    });
  });
}

/**
 * Decodes one OTLP/HTTP JSON `ExportTraceServiceRequest` body with the official definitions.
 * Throws `OtlpDecodeError` naming what the official reader refused.
 */
export function decodeOtlpJsonTraces(body: string | Uint8Array): DecodedTraceRequest {
  let json: unknown;
  try {
    json = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
  } catch (e) {
    throw new OtlpDecodeError(`not JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new OtlpDecodeError('body is not a JSON object');
  const message = ExportTraceServiceRequest.fromObject(mapIds(structuredClone(json), hexToBytes));
  const err = ExportTraceServiceRequest.verify(message);
  if (err !== null) throw new OtlpDecodeError(`verify: ${err}`);
  const decoded = ExportTraceServiceRequest.decode(ExportTraceServiceRequest.encode(message).finish());
  const err2 = ExportTraceServiceRequest.verify(decoded);
  if (err2 !== null) throw new OtlpDecodeError(`verify after the protobuf round trip: ${err2}`);
  const sent = mapIds(json, lowerHex);
  const out = alignEmptyArrays(
    mapIds(ExportTraceServiceRequest.toObject(decoded, JSON_FORM), base64ToHex),
    sent,
  );
  try {
    deepStrictEqual(out, sent);
  } catch (e) {
    const diff = (e as Error).message.slice(0, 4000);
    throw new OtlpDecodeError(
      `the official message does not hold the whole body (+ decoded, - sent):\n${diff}`,
    );
  }
  checkShape(out);
  return out;
}

/** Every span of a decoded request, in order. */
export function decodedSpans(req: DecodedTraceRequest): DecodedSpan[] {
  return req.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
}

/** Every string a decoded request carries (names, attribute keys and values, status, scope, resource). */
export function decodedStrings(req: DecodedTraceRequest): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) for (const x of v) walk(x);
    else if (typeof v === 'object' && v !== null)
      for (const [k, x] of Object.entries(v)) {
        out.push(k);
        walk(x);
      }
  };
  walk(req);
  return out;
}

/** A span's attributes as a plain map: strings, `intValue` as a number, arrays of their values. */
export function attributeMap(span: {
  readonly attributes: readonly DecodedAttribute[];
}): Record<string, string | number | boolean | unknown[]> {
  const plain = (v: DecodedValue): string | number | boolean | unknown[] => {
    if ('stringValue' in v) return v.stringValue;
    if ('intValue' in v) return Number(v.intValue);
    if ('boolValue' in v) return v.boolValue;
    if ('doubleValue' in v) return v.doubleValue;
    return (v.arrayValue.values ?? []).map(plain);
  };
  return Object.fromEntries(span.attributes.map((a) => [a.key, plain(a.value)]));
}
