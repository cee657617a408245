import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyUsage } from '@aisix/providers';
import { addFrameUsage } from './usage.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const bj = (v: unknown) => b(JSON.stringify(v));

test('response.done and token-typed transcriptions add up; other frames are not parsed', () => {
  const u = emptyUsage();
  const done = (i: number, o: number, c: number) =>
    JSON.stringify({
      type: 'response.done',
      event_id: 'e',
      response: { usage: { input_tokens: i, output_tokens: o, input_token_details: { cached_tokens: c } } },
    });
  assert.equal(addFrameUsage(b(done(10, 5, 4)), u), true);
  assert.equal(addFrameUsage(b(done(3, 2, 0)), u), true);
  assert.equal(
    addFrameUsage(
      bj({
        type: 'conversation.item.input_audio_transcription.completed',
        usage: { type: 'tokens', input_tokens: 7, output_tokens: 1 },
      }),
      u,
    ),
    true,
  );
  // Duration-typed transcription usage carries no tokens.
  assert.equal(
    addFrameUsage(
      bj({
        type: 'conversation.item.input_audio_transcription.completed',
        usage: { type: 'duration', seconds: 3 },
      }),
      u,
    ),
    false,
  );
  assert.equal(addFrameUsage(bj({ type: 'response.audio.delta', delta: 'x'.repeat(5000) }), u), false);
  // A type named only inside a nested string is not the frame's type.
  assert.equal(
    addFrameUsage(b('{"type":"response.text.delta","delta":"\\"type\\":\\"response.done\\""}'), u),
    false,
  );
  assert.equal(addFrameUsage(b('{"type":"response.done", broken'), u), false);
  assert.deepEqual(
    { p: u.prompt_tokens, c: u.completion_tokens, t: u.total_tokens, cached: u.cached_prompt_tokens },
    { p: 20, c: 8, t: 28, cached: 4 },
  );
});
