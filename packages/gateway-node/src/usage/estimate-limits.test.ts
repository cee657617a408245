/**
 * A stream whose caller turned usage off (`stream_options.include_usage: false`, so the upstream
 * reports none) still costs tokens: the gateway estimates them locally and commits them to the
 * caller's token limit, like an upstream-reported count. Driven by the official OpenAI SDK.
 *
 * The count is pinned: prompt `[{role: user, content: hello}]` = 3 + 1 + 1 + 3 = 8 (cookbook),
 * output "Hello!" = 2 tokens: 10 per request. With `tpm: 10` two requests pass and the third is
 * refused; with `tpm: 9` the second is.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Rig, refused, roomIn, startRig } from '../test/rate-limit-rig.js';
import { preloadTokenizer } from './estimate.js';

let rig: Rig;

before(async () => {
  rig = await startRig();
  // The first estimates of a process are rough (≈4 characters per token) until the encoding has
  // loaded; this test pins exact counts.
  await preloadTokenizer('gpt-x');
});

after(() => rig.close());

const ESTIMATED = 10;

async function streamWithoutUsage(key: string, model: string): Promise<string> {
  const s = await rig.client(key).chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'hello' }],
    stream: true,
    stream_options: { include_usage: false },
  });
  let text = '';
  for await (const c of s) {
    assert.equal(c.usage ?? undefined, undefined, 'the caller gets no usage chunk');
    text += c.choices[0]?.delta?.content ?? '';
  }
  return text;
}

test('a stream without usage commits its estimated tokens to a tpm limit', async () => {
  await roomIn(60, 6000);
  const model = rig.model();
  const a = rig.key({ tpm: ESTIMATED });
  assert.equal(await streamWithoutUsage(a, model), 'Hello!');
  await streamWithoutUsage(a, model);
  const r = await refused(streamWithoutUsage(a, model));
  assert.equal(r.status, 429);
  const b = rig.key({ tpm: ESTIMATED - 1 });
  await streamWithoutUsage(b, model);
  assert.equal((await refused(streamWithoutUsage(b, model))).status, 429);
});

test('the estimate reaches the token metrics', async () => {
  const model = rig.model();
  const k = rig.key();
  await streamWithoutUsage(k, model);
  assert.equal(await rig.tokensOf(model), ESTIMATED);
});
