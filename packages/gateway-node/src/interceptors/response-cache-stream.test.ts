/**
 * Streams and the other endpoints in the response cache (docs/cache.md: chat, completions,
 * embeddings, /v1/messages and /v1/responses are cached, JSON and streamed; a stream is replayed
 * byte for byte in the caller's dialect). Driven by the openai and @anthropic-ai/sdk SDKs and by
 * raw fetches (to compare bytes), against real mock upstreams: OpenAI-wire and Anthropic-native.
 * Incomplete streams (cut by the upstream, or by a client that went away) and failed answers
 * are never stored.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { type CacheRig, cacheHeader, KEY_A, post, settle, startCacheRig } from '../test/cache-rig.js';
import { anthropicSse } from '../test/mock-anthropic.js';
import { responsesEvents, responsesFailedSse } from '../test/mock-responses.js';
import { chatJson, chatSse, json, sleep } from '../test/mock-upstream.js';

let rig: CacheRig;
let openai: OpenAI;
let anthropic: Anthropic;

before(async () => {
  rig = await startCacheRig({ policies: { st: { name: 'streams', scope: 'env' } } });
  openai = new OpenAI({ apiKey: KEY_A, baseURL: `${rig.g.base}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: KEY_A, baseURL: rig.g.base, maxRetries: 0 });
});

after(() => rig.close());

const hello = [{ role: 'user' as const, content: 'hello' }];

/** Two raw sends of one streamed body: a miss then a hit replaying the exact bytes. */
async function missThenReplay(path: string, body: Record<string, unknown>): Promise<string> {
  const n = rig.calls();
  const first = await post(rig.g.base, path, body);
  assert.equal(first.status, 200, first.text);
  assert.equal(cacheHeader(first), 'miss');
  assert.match(first.headers.get('content-type') ?? '', /^text\/event-stream/);
  const second = await post(rig.g.base, path, body);
  assert.equal(second.status, 200);
  assert.equal(cacheHeader(second), 'hit');
  assert.equal(second.headers.get('x-aisix-cache-layer'), 'exact');
  assert.match(second.headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.equal(second.text, first.text, 'replayed byte for byte');
  assert.equal(rig.calls() - n, 1, 'the replay made no upstream call');
  return first.text;
}

describe('streams are replayed in the caller dialect', () => {
  test('OpenAI chat stream: same bytes, [DONE] included; the openai SDK reads the replay', async () => {
    const model = 'mock/s-chat';
    const bytes = await missThenReplay('/v1/chat/completions', { model, messages: hello, stream: true });
    assert.ok(bytes.endsWith('data: [DONE]\n\n'));
    const n = rig.calls();
    const { data: stream, response } = await openai.chat.completions
      .create({ model, messages: hello, stream: true })
      .withResponse();
    assert.equal(response.headers.get('x-aisix-cache'), 'hit');
    let text = '';
    let finish: string | null | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    assert.match(text, /^answer #\d+$/);
    assert.ok(bytes.includes(JSON.stringify(text.slice('answer '.length))), 'the text of the first stream');
    assert.equal(finish, 'stop');
    assert.equal(rig.calls(), n);
  });

  test('Anthropic caller, Anthropic-native upstream: same events; the Anthropic SDK reads the replay', async () => {
    const params = { model: 'claude', max_tokens: 64, messages: hello };
    const bytes = await missThenReplay('/v1/messages', { ...params, stream: true });
    assert.ok(bytes.includes('event: message_stop'));
    const n = rig.calls();
    const stream = anthropic.messages.stream(params);
    const { response } = await stream.withResponse();
    assert.equal(response.headers.get('x-aisix-cache'), 'hit');
    const msg = await stream.finalMessage();
    const text = msg.content[0]?.type === 'text' ? msg.content[0].text : '';
    assert.match(text, /^claude #\d+$/);
    assert.ok(bytes.includes(JSON.stringify(text.slice('claude '.length))));
    assert.equal(msg.stop_reason, 'end_turn');
    assert.equal(msg.model, 'claude');
    assert.equal(rig.calls(), n);
  });

  test('Anthropic caller, OpenAI upstream through the bridge: the translated events are replayed', async () => {
    const params = { model: 'mock/s-bridge', max_tokens: 64, messages: hello };
    const bytes = await missThenReplay('/v1/messages', { ...params, stream: true });
    assert.ok(bytes.includes('event: message_start'));
    const stream = anthropic.messages.stream(params);
    assert.equal((await stream.withResponse()).response.headers.get('x-aisix-cache'), 'hit');
    const msg = await stream.finalMessage();
    const text = msg.content[0]?.type === 'text' ? msg.content[0].text : '';
    assert.match(text, /^answer #\d+$/);
    assert.equal(msg.stop_reason, 'end_turn');
  });

  test('/v1/responses stream: same events; the openai SDK reads the replay', async () => {
    const model = 'mock/s-resp';
    const bytes = await missThenReplay('/v1/responses', { model, input: 'hi', stream: true });
    assert.ok(bytes.includes('response.completed'));
    const { data: stream, response } = await openai.responses
      .create({ model, input: 'hi', stream: true })
      .withResponse();
    assert.equal(response.headers.get('x-aisix-cache'), 'hit');
    let done = '';
    for await (const e of stream) if (e.type === 'response.output_text.done') done = e.text;
    assert.match(done, /^resp #\d+$/);
  });

  test('JSON answers of every endpoint are cached too', async () => {
    const cases: [string, Record<string, unknown>][] = [
      ['/v1/completions', { model: 'mock/j-cmpl', prompt: 'hi' }],
      ['/v1/embeddings', { model: 'mock/j-emb', input: 'hi' }],
      ['/v1/responses', { model: 'mock/j-resp', input: 'hi' }],
      ['/v1/messages', { model: 'claude', max_tokens: 8, messages: hello }],
      ['/v1/messages', { model: 'mock/j-bridge', max_tokens: 8, messages: hello }],
    ];
    for (const [path, body] of cases) {
      const n = rig.calls();
      const a = await post(rig.g.base, path, body);
      assert.equal(a.status, 200, `${path} ${a.text}`);
      assert.equal(cacheHeader(a), 'miss', path);
      const b = await post(rig.g.base, path, body);
      assert.equal(cacheHeader(b), 'hit', path);
      assert.equal(b.text, a.text, path);
      assert.equal(rig.calls() - n, 1, path);
    }
  });
});

describe('what is not stored', () => {
  /** A first streamed call under a faulty upstream, then a healthy one: must reach the upstream. */
  async function notStored(
    path: string,
    body: Record<string, unknown>,
    what: string,
    first: () => Promise<{ text: string }> = () => post(rig.g.base, path, body),
  ): Promise<string> {
    const { text } = await first();
    await settle();
    rig.reset();
    const n = rig.calls();
    const second = await post(rig.g.base, path, body);
    assert.equal(second.status, 200, what);
    assert.equal(cacheHeader(second), 'miss', `${what}: the incomplete answer was stored`);
    assert.equal(rig.calls() - n, 1, what);
    assert.equal(cacheHeader(await post(rig.g.base, path, body)), 'hit', `${what}: the complete one is`);
    return text;
  }

  test('an OpenAI stream cut by the upstream (error frame, no [DONE])', async () => {
    rig.up.handle(chatSse({ words: ['a', 'b', 'c'], dropAfter: 1 }));
    const text = await notStored(
      '/v1/chat/completions',
      { model: 'mock/cut-chat', messages: hello, stream: true },
      'chat drop',
    );
    assert.ok(text.includes('event: error') && !text.includes('[DONE]'), text);
  });

  test('an Anthropic-native stream cut by the upstream, or ended by an in-band error event', async () => {
    const body = { model: 'claude', max_tokens: 32, messages: hello, stream: true };
    rig.anth.handle(anthropicSse({ words: ['a', 'b', 'c'], dropAfter: 1 }));
    await notStored('/v1/messages', body, 'anthropic drop');
    rig.anth.handle(anthropicSse({ words: ['a'], inBandError: true }));
    const text = await notStored('/v1/messages', { ...body, max_tokens: 33 }, 'anthropic in-band error');
    assert.ok(text.includes('event: error'), text);
  });

  test('a bridged /v1/messages stream cut by the OpenAI upstream', async () => {
    rig.up.handle(chatSse({ words: ['a', 'b', 'c'], dropAfter: 1 }));
    const body = { model: 'mock/cut-bridge', max_tokens: 32, messages: hello, stream: true };
    const text = await notStored('/v1/messages', body, 'bridge drop');
    assert.ok(text.includes('event: error'), text);
  });

  test('a /v1/responses stream cut by the upstream', async () => {
    rig.up.handle(async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const e of responsesEvents(req, ['a', 'b']).slice(0, 5)) res.write(e);
      await sleep(20);
      res.socket?.destroy();
    });
    await notStored('/v1/responses', { model: 'mock/cut-resp', input: 'hi', stream: true }, 'responses drop');
  });

  test('a /v1/responses stream ended by response.failed', async () => {
    rig.up.handle(responsesFailedSse(['a', 'b'], { code: 'server_error', message: 'model failed' }));
    const text = await notStored(
      '/v1/responses',
      { model: 'mock/failed-resp', input: 'hi', stream: true },
      'responses failed',
    );
    assert.ok(text.includes('event: response.failed'), text);
  });

  test('a stream whose client went away mid-way', async () => {
    rig.up.handle(chatSse({ words: ['a', 'b', 'c', 'd'], gapMs: 150 }));
    const body = { model: 'mock/cut-client', messages: hello, stream: true };
    const goAway = async () => {
      const upstreamClosed = rig.up.nextSocketClose();
      await new Promise<void>((resolve, reject) => {
        const req = request(`${rig.g.base}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
        });
        req.on('response', (res) => {
          assert.equal(res.headers['x-aisix-cache'], 'miss');
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {});
        req.once('error', reject);
        req.end(JSON.stringify(body));
      });
      await upstreamClosed;
      return { text: '' };
    };
    await notStored('/v1/chat/completions', body, 'client gone', goAway);
  });

  test('answers above 1 MiB, JSON and streamed', async () => {
    const big = 'x'.repeat(1024 * 1024 + 10);
    rig.up.handle(chatJson(big));
    const j = await notStored(
      '/v1/chat/completions',
      { model: 'mock/big-json', messages: hello },
      'JSON > 1 MiB',
    );
    assert.ok(j.length > 1024 * 1024);
    rig.up.handle(chatSse({ words: [big.slice(0, 600_000), big.slice(600_000)] }));
    await notStored(
      '/v1/chat/completions',
      { model: 'mock/big-sse', messages: hello, stream: true },
      'SSE > 1 MiB',
    );
    // Just under the cap is stored.
    rig.up.handle(chatJson('y'.repeat(1000 * 1000)));
    const body = { model: 'mock/big-ok', messages: hello };
    assert.equal(cacheHeader(await post(rig.g.base, '/v1/chat/completions', body)), 'miss');
    assert.equal(cacheHeader(await post(rig.g.base, '/v1/chat/completions', body)), 'hit');
    rig.reset();
  });

  test('non-200 answers, JSON and streamed', async () => {
    rig.up.handle((_req, res) => json(res, 503, { error: { message: 'busy', type: 'server_error' } }));
    const j = await notStored(
      '/v1/chat/completions',
      { model: 'mock/err-json', messages: hello },
      'JSON 503',
    );
    assert.match(j, /busy|error/);
    rig.up.handle((_req, res) => json(res, 429, { error: { message: 'slow down', type: 'rate_limit' } }));
    await notStored(
      '/v1/chat/completions',
      { model: 'mock/err-sse', messages: hello, stream: true },
      'SSE 429',
    );
    rig.anth.handle((_req, res) =>
      json(res, 529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
    );
    await notStored('/v1/messages', { model: 'claude', max_tokens: 9, messages: hello }, 'anthropic 529');
  });
});
