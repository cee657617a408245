/**
 * An upstream answer the translators cannot read is the upstream's fault, reported to the caller
 * as 502 `upstream_decode_error` (data-plane §7.3) or, once a stream is committed, as its error
 * frame (§6.1) — never a gateway exception. Driven through real listeners with the official
 * Anthropic SDK on `/v1/messages` bridged to an OpenAI-compatible upstream, whose chunks the
 * relay forwards unparsed to the Anthropic encoder: the encoder is the first reader of their
 * inner shape. A follow-up request proves the gateway stayed up.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { ALL_KEY, type DialectRig, startDialectRig } from '../test/dialect-fixtures.js';
import { chatJson, chunk, json, sleep } from '../test/mock-upstream.js';

let rig: DialectRig;
let client: Anthropic;

before(async () => {
  rig = await startDialectRig();
  client = new Anthropic({ apiKey: ALL_KEY, baseURL: rig.g.base, maxRetries: 0 });
});

after(() => rig.close());

const ask = { model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user' as const, content: 'hi' }] };

async function stillServes(): Promise<void> {
  rig.up.handle(chatJson('still here'));
  const msg = await client.messages.create(ask);
  assert.deepEqual(msg.content, [{ type: 'text', text: 'still here' }]);
}

test('non-streaming: a tool call that is not an object is 502 upstream_decode_error (api_error)', async () => {
  rig.up.handle((req, res) =>
    json(res, 200, {
      id: 'c1',
      object: 'chat.completion',
      model: String(req.json?.model),
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: null, tool_calls: [null] },
          finish_reason: 'tool_calls',
        },
      ],
    }),
  );
  const err = await client.messages.create(ask).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof Anthropic.APIError, 'expected an API error');
  assert.equal(err.status, 502);
  assert.deepEqual((err.error as { type?: string }).type, 'error');
  assert.equal((err.error as { error?: { type?: string } }).error?.type, 'api_error');
  assert.match(err.message, /unparseable/);
  await stillServes();
});

test('streaming: a chunk whose tool call is not an object ends the stream with an error event', async () => {
  // Separate socket reads: the bad chunk is relayed on its own (the path where a translator
  // exception used to escape as an uncaught exception and end the gateway process).
  rig.up.handle(async (req, res) => {
    const model = String(req.json?.model);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk(model, { role: 'assistant', content: 'Hel' }));
    await sleep(30);
    res.write(chunk(model, { tool_calls: [null] }));
    await sleep(30);
    res.write(chunk(model, {}, 'stop'));
    res.end('data: [DONE]\n\n');
  });
  const r = await fetch(`${rig.g.base}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': ALL_KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ ...ask, stream: true }),
  });
  const body = await r.text();
  assert.equal(r.status, 200);
  assert.ok(body.includes('"Hel"'));
  assert.match(
    body,
    /event: error\ndata: \{"type":"error","error":\{"type":"upstream_decode_error","message":"[^"]*unparseable/,
  );
  assert.ok(!body.includes('event: message_stop'));
  await stillServes();
});
