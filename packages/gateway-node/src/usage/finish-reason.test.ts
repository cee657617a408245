/** `finishReason`: the last finish/stop reason of a served answer, JSON or SSE tail. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lcg } from '../test/random.js';
import { finishReason } from './events.js';

test('the last reason of a JSON answer, an Anthropic answer, a Responses answer', () => {
  const chat = JSON.stringify({
    choices: [
      { index: 0, message: { content: 'a "finish_reason":"fake" b' }, finish_reason: 'length' },
      { index: 1, message: { content: 'x' }, finish_reason: 'stop' },
    ],
  });
  assert.equal(finishReason(chat, undefined), 'stop');
  assert.equal(
    finishReason('{"type":"message","stop_reason":"end_turn","content":[]}', undefined),
    'end_turn',
  );
  assert.equal(
    finishReason('{"object":"response","status":"completed","output":[]}', undefined),
    'completed',
  );
  assert.equal(finishReason('{"choices":[{"finish_reason":null}]}', undefined), null);
  assert.equal(finishReason(undefined, undefined), null);
});

test('an SSE answer is read from its last two pieces', () => {
  const sse = ['data: {"choices":[{"delta":{},"finish_reason":"tool_calls"}]}\n\n', 'data: [DONE]\n\n'];
  assert.equal(finishReason(undefined, sse), 'tool_calls');
  assert.equal(finishReason(undefined, ['data: {"finish_', 'reason":"stop"}\n\n']), 'stop');
  assert.equal(finishReason(undefined, []), null);
});

// The reference definition: the last match of this pattern in the text.
const PATTERN = /"(?:finish_reason|stop_reason)":"([A-Za-z_]{1,40})"/g;
function reference(text: string): string | null {
  let last: string | null = null;
  for (const m of text.matchAll(PATTERN)) last = m[1] ?? last;
  return last;
}

test('same answer as the pattern it replaces, on random JSON-shaped texts', () => {
  const next = lcg(7);
  const rnd = (n: number) => next() % n;
  const pieces = [
    '"finish_reason":"',
    '"stop_reason":"',
    'stop',
    'end_turn',
    'max_tokens',
    'x'.repeat(41),
    '"',
    ',',
    'null',
    '{',
    '}',
    '1',
    'é',
    ' ',
    '\\"',
    '"finish_reason":null',
  ];
  for (let i = 0; i < 5000; i++) {
    let t = '';
    for (let k = rnd(14); k >= 0; k--) t += pieces[rnd(pieces.length)];
    // Texts where one match could start inside another ("finish_reason":"stop_reason":"x")
    // are not JSON and are left out: the pattern's left-to-right scan and the search from the
    // end read those differently.
    if (/"(?:finish|stop)_reason":"(?:finish|stop)_reason":"/.test(t)) continue;
    assert.equal(finishReason(t, undefined), reference(t), JSON.stringify(t));
  }
});
