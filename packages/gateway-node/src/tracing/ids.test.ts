import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { newSpanId, parseTraceparent, sampled, traceIdFor } from './ids.js';

test('traceIdFor: a UUID request id is its 32 hex digits, lowercased; anything else a random id', () => {
  for (let i = 0; i < 100; i++) {
    const id = randomUUID();
    assert.equal(traceIdFor(id), id.replaceAll('-', ''));
  }
  assert.equal(
    traceIdFor('0AF7651916CD43DD8448EB211C80319C'),
    '0af7651916cd43dd8448eb211c80319c',
    'undashed and uppercase: the same digits',
  );
  assert.equal(traceIdFor('0AF76519-16CD-43DD-8448-EB211C80319C'), '0af7651916cd43dd8448eb211c80319c');
  const random = [traceIdFor('caller-chosen-id'), traceIdFor('00000000-0000-0000-0000-000000000000')];
  for (const t of random) {
    assert.match(t, /^[0-9a-f]{32}$/);
    assert.notEqual(t, '0'.repeat(32), 'never the invalid all-zero trace id');
  }
  assert.notEqual(traceIdFor('caller-chosen-id'), traceIdFor('caller-chosen-id'), 'random each time');
});

test('span ids are 16 hex digits, never all zero, and do not repeat', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const s = newSpanId();
    assert.match(s, /^[0-9a-f]{16}$/);
    assert.notEqual(s, '0'.repeat(16));
    seen.add(s);
  }
  assert.equal(seen.size, 2000);
});

test('sampling is decided by the trace id alone', () => {
  const t = traceIdFor(randomUUID());
  assert.equal(sampled(t, 1), true);
  assert.equal(sampled(t, 0), false);
  assert.equal(sampled(t, 0.5), sampled(t, 0.5));
  assert.equal(sampled('0'.repeat(24) + 'ffffffff', 0.5), false);
  assert.equal(sampled('f'.repeat(24) + '00000001', 0.5), true);
  assert.equal(parseTraceparent(`00-${t}-00f067aa0ba902b7-01`)?.traceId, t);
});
