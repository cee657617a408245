import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseGeminiError } from './errors.js';
import { fixtureJson } from './test-fixtures.js';

test('Google error bodies: status is the kind, code derived per data-plane §7.4', () => {
  const bodies = fixtureJson<Record<string, unknown>>('errors.json');
  const want: Record<string, [string, string | undefined]> = {
    '400': ['INVALID_ARGUMENT', undefined],
    '401': ['UNAUTHENTICATED', 'invalid_api_key'],
    '403': ['PERMISSION_DENIED', 'permission_denied'],
    '404': ['NOT_FOUND', 'model_not_found'],
    '429': ['RESOURCE_EXHAUSTED', 'rate_limit_exceeded'],
    '503': ['UNAVAILABLE', 'overloaded'],
    '504': ['DEADLINE_EXCEEDED', 'timeout'],
  };
  for (const [status, [kind, code]] of Object.entries(want)) {
    const info = parseGeminiError(JSON.stringify(bodies[status]));
    assert.equal(info.kind, kind, status);
    assert.equal(info.code, code, status);
    assert.equal(info.status, Number(status), status);
    assert.ok(info.message.length > 0);
  }
});

test('array-wrapped errors, raw text and oversize messages', () => {
  const wrapped = parseGeminiError(
    '[{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}]',
  );
  assert.deepEqual(wrapped, {
    message: 'slow down',
    kind: 'RESOURCE_EXHAUSTED',
    code: 'rate_limit_exceeded',
    status: 429,
  });
  assert.deepEqual(parseGeminiError('upstream connect error'), { message: 'upstream connect error' });
  const long = parseGeminiError(
    JSON.stringify({ error: { code: 400, message: 'x'.repeat(5000), status: 'INVALID_ARGUMENT' } }),
  );
  assert.ok(Buffer.byteLength(long.message) <= 1024 + 3);
  assert.ok(long.message.endsWith('…'));
});
