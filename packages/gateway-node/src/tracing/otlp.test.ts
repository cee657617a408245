/**
 * `SpanText` writes the very JSON that `JSON.stringify` gives for the same span built as an
 * `OtlpSpan` with the attribute helpers, whatever the values hold (quotes, controls, lone
 * surrogates, non-ASCII), so the collector reads the same span either way.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lcg } from '../test/random.js';
import {
  bool,
  epochMsToNano,
  int,
  type OtlpAttribute,
  type OtlpSpan,
  renderStr,
  SpanText,
  str,
  strs,
} from './otlp.js';

const VALUES = [
  '',
  'plain',
  'quote " and \\ backslash',
  'tab\tnl\n\u0001',
  'é日😀',
  '\ud800 lone',
  'x\udfffy',
  '\u2028',
];

test('SpanText matches JSON.stringify of the same OtlpSpan', () => {
  const next = lcg(11);
  const pick = <T>(a: readonly T[]): T => a[next() % a.length] as T;
  for (let round = 0; round < 500; round++) {
    const text = new SpanText();
    const attributes: OtlpAttribute[] = [];
    for (let k = 0; k < 8; k++) {
      const v = pick([...VALUES, null, undefined]);
      const n = pick([0, 7, -3.7, 12.9, Number.NaN, Number.POSITIVE_INFINITY, null, undefined]);
      switch (pick([0, 1, 2, 3, 4])) {
        case 0:
          text.str(`k.s${k}`, v);
          str(attributes, `k.s${k}`, v);
          break;
        case 1:
          text.strs(`k.a${k}`, v);
          strs(attributes, `k.a${k}`, v);
          break;
        case 2:
          text.int(`k.i${k}`, n);
          int(attributes, `k.i${k}`, n ?? undefined);
          break;
        case 3:
          text.bool(`k.b${k}`, k % 2 === 0);
          bool(attributes, `k.b${k}`, k % 2 === 0);
          break;
        default:
          if (v) {
            text.pre(renderStr(`k.p${k}`, v));
            str(attributes, `k.p${k}`, v);
          }
      }
    }
    const name = pick(VALUES.filter((x) => x !== '')) as string;
    const parent = round % 3 === 0 ? undefined : 'fedcba9876543210';
    const span: OtlpSpan = {
      traceId: 'a'.repeat(32),
      spanId: '0123456789abcdef',
      ...(parent ? { parentSpanId: parent } : {}),
      name,
      kind: 3,
      startTimeUnixNano: '1765000000000000000',
      endTimeUnixNano: '1765000000003000000',
      attributes,
      status: { code: 2 },
    };
    const written = text.text({
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: parent,
      name,
      kind: 3,
      startTimeUnixNano: span.startTimeUnixNano,
      endTimeUnixNano: span.endTimeUnixNano,
      statusCode: 2,
    });
    assert.equal(written, JSON.stringify(span));
  }
});

test('epochMsToNano: decimal nanoseconds at µs resolution, like the plain conversion', () => {
  const plain = (ms: number) => `${Math.round(ms * 1000)}000`;
  const samples = [0, 0.0004, 0.0006, 1, 999.9996, 1000, 1000.0004, 1765000000000, 1765000000999.9995];
  const next = lcg(3);
  for (let i = 0; i < 20_000; i++) {
    const seed = next();
    // Across second boundaries, in and out of order, with sub-µs fractions.
    samples.push(1765000000000 + (seed % 5_000_000) / 1000, (seed % 2_000_000) / 7);
  }
  for (const ms of samples) assert.equal(epochMsToNano(ms), plain(ms), String(ms));
});
