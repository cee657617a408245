/** The OTLP/JSON trace reader built on the official generated definitions: what it accepts and refuses. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attributeMap, decodedSpans, decodedStrings, decodeOtlpJsonTraces, OtlpDecodeError } from './otlp.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function body() {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
        scopeSpans: [
          {
            scope: { name: 'aisix-gateway', version: '1.0.0' },
            spans: [
              {
                traceId: TRACE,
                spanId: '00f067aa0ba902b7',
                parentSpanId: '00f067aa0ba902b8',
                name: 'chat.completions',
                kind: 3,
                startTimeUnixNano: '1733000000000000000',
                endTimeUnixNano: '1733000000250000000',
                attributes: [
                  { key: 'gen_ai.usage.input_tokens', value: { intValue: '9' } },
                  {
                    key: 'gen_ai.response.finish_reasons',
                    value: { arrayValue: { values: [{ stringValue: 'stop' }] } },
                  },
                  { key: 'aisix.usage_estimated', value: { boolValue: false } },
                  { key: 'x.ratio', value: { doubleValue: 0.5 } },
                ],
                status: { code: 2, message: 'upstream 503' },
              },
            ],
          },
        ],
      },
    ],
  };
}

function refused(edit: (s: Record<string, unknown>) => void, reason: RegExp): void {
  const b = body();
  const span: Record<string, unknown> = b.resourceSpans[0]?.scopeSpans[0]?.spans[0] ?? {};
  edit(span);
  assert.throws(
    () => decodeOtlpJsonTraces(JSON.stringify(b)),
    (e: unknown) => e instanceof OtlpDecodeError && reason.test(e.message),
  );
}

test('a well-formed body decodes to the same values, ids in hex', () => {
  const req = decodeOtlpJsonTraces(Buffer.from(JSON.stringify(body())));
  const [s] = decodedSpans(req);
  assert.ok(s);
  assert.equal(s.traceId, TRACE);
  assert.equal(s.spanId, '00f067aa0ba902b7');
  assert.equal(s.parentSpanId, '00f067aa0ba902b8');
  assert.equal(s.kind, 3);
  assert.equal(s.endTimeUnixNano, '1733000000250000000');
  assert.deepEqual(s.status, { code: 2, message: 'upstream 503' });
  assert.deepEqual(attributeMap(s), {
    'gen_ai.usage.input_tokens': 9,
    'gen_ai.response.finish_reasons': ['stop'],
    'aisix.usage_estimated': false,
    'x.ratio': 0.5,
  });
  assert.ok(decodedStrings(req).includes('upstream 503'));
  assert.ok(decodedStrings(req).includes('svc'));
});

test('the official reader refuses what the OTLP JSON encoding does not allow', () => {
  refused((s) => {
    s.kind = 'SPAN_KIND_CLIENT';
  }, /does not hold the whole body/);
  refused((s) => {
    s.kind = 9;
  }, /verify: .*kind: enum value expected/);
  refused((s) => {
    s.traceId = Buffer.from(TRACE, 'hex').toString('base64');
  }, /traceId: want 32 hex digits/);
  refused((s) => {
    s.spanId = '0'.repeat(16);
  }, /spanId: want 16 hex digits, not all zero/);
  refused((s) => {
    s.startTimeUnixNano = 'soon';
  }, /does not hold the whole body/);
  refused((s) => {
    s.attributes = [{ key: 'n', value: { intValue: 9 } }];
  }, /does not hold the whole body/);
  refused((s) => {
    s.span_kind = 3;
  }, /does not hold the whole body/);
  refused((s) => {
    s.attributes = [{ key: 'n', value: {} }];
  }, /unexpected AnyValue/);
  refused((s) => {
    delete s.status;
  }, /status: object missing/);
  assert.throws(() => decodeOtlpJsonTraces('{"resourceSpans": ['), /not JSON/);
  assert.throws(() => decodeOtlpJsonTraces('{}'), /no resourceSpans/);
});
