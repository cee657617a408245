import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  hasNonEmptyValue,
  hasUsageObject,
  modelKeyAtTop,
  rewriteModelField,
  startsWithErrorKey,
} from './json-scan.js';

test('rewriteModelField replaces the model key, not look-alikes in strings', () => {
  const a = JSON.stringify('my-alias');
  assert.equal(
    rewriteModelField('{"id":"x","model":"gpt-4o-2024","c":1}', a),
    '{"id":"x","model":"my-alias","c":1}',
  );
  assert.equal(
    rewriteModelField('{"object":"model", "model" : "m"}', a),
    '{"object":"model", "model" : "my-alias"}',
  );
  assert.equal(
    rewriteModelField('{"content":"the \\"model\\": \\"x\\"","model":"m\\"q"}', a),
    '{"content":"the \\"model\\": \\"x\\"","model":"my-alias"}',
  );
  const same = '{"model":"my-alias"}';
  assert.equal(rewriteModelField(same, a), same);
  assert.equal(rewriteModelField('{"a":1}', a), '{"a":1}');
  assert.equal(rewriteModelField('{"model":null}', a), '{"model":"my-alias"}');
});

test('output, usage and error detection', () => {
  assert.equal(hasNonEmptyValue('{"delta":{"content":""}}', '"content"'), false);
  assert.equal(hasNonEmptyValue('{"delta":{"role":"assistant","content":"Hi"}}', '"content"'), true);
  assert.equal(hasNonEmptyValue('{"delta":{"tool_calls":[]}}', '"tool_calls"'), false);
  assert.equal(hasNonEmptyValue('{"delta":{"tool_calls":[{"id":"c"}]}}', '"tool_calls"'), true);
  assert.equal(hasUsageObject('{"usage":null}'), false);
  assert.equal(hasUsageObject('{"choices":[],"usage": {"prompt_tokens":1}}'), true);
  assert.equal(startsWithErrorKey(' {"error":{"message":"x"}}'), true);
  assert.equal(startsWithErrorKey('{"id":"x","error":null}'), false);
});

test('modelKeyAtTop: the first model key is a top-level member only before any nested object or array', () => {
  assert.equal(modelKeyAtTop('{"id":"x","model":"m","choices":[{"model":"n"}]}'), true);
  assert.equal(modelKeyAtTop(' { "model" : null }'), true);
  assert.equal(modelKeyAtTop('{"choices":[{"model":"n"}],"model":"m"}'), false);
  assert.equal(modelKeyAtTop('{"meta":{"model":"n"},"model":"m"}'), false);
  // Conservative: a bracket inside an earlier string value also answers false.
  assert.equal(modelKeyAtTop('{"id":"a[b","model":"m"}'), false);
  assert.equal(modelKeyAtTop('{"id":"x"}'), false);
});
