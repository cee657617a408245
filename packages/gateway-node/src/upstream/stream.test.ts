import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Started,
  standardDocs,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import {
  chatJson,
  chatSse,
  json,
  type MockUpstream,
  sleep,
  startMockUpstream,
} from '../test/mock-upstream.js';

let up: MockUpstream;
let g: Started;
let client: OpenAI;

before(async () => {
  up = await startMockUpstream();
  const docs = standardDocs(up.url, {
    models: {
      budget: {
        display_name: 'budget-model',
        provider: 'openai',
        model_name: 'b',
        provider_key_id: 'pk1',
        stream_timeout: 300,
      },
      usage: {
        display_name: 'usage-model',
        provider: 'openai',
        model_name: 'u',
        provider_key_id: 'pk1',
      },
    },
  });
  g = await startTestGateway(
    buildSnapshot(docs),
    testConfig({ downstream: { sse_keepalive_interval_secs: 1 } }),
  );
  client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
});

const body = (model = 'gpt-4o-mini') =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], stream: true });

test('upstream drops mid-stream: partial content, then a JSON error frame and no [DONE]', async () => {
  up.handle(chatSse({ words: ['a', 'b', 'c', 'd'], dropAfter: 2 }));
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  let text = '';
  let finish: string | null | undefined;
  await assert.rejects(
    (async () => {
      for await (const c of stream) {
        text += c.choices[0]?.delta.content ?? '';
        finish = c.choices[0]?.finish_reason ?? finish;
      }
    })(),
    (e: unknown) => e instanceof OpenAI.APIError,
  );
  assert.equal(text, 'ab');
  assert.equal(finish, undefined);
  // Raw framing of the same failure.
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: body(),
  });
  const raw = await r.text();
  assert.ok(!raw.includes('[DONE]'));
  const frame = raw.slice(raw.indexOf('event: error'));
  assert.match(frame, /^event: error\ndata: \{"error":\{"message":"[^"]+","type":"transport_error"\}\}\n\n$/);
});

test('client disconnect mid-stream aborts the upstream request, and the gateway keeps serving', async () => {
  up.handle(chatSse({ words: Array.from({ length: 50 }, (_, i) => `w${i}`), gapMs: 50 }));
  const upstreamClosed = up.nextSocketClose();
  await new Promise<void>((resolve, reject) => {
    const req = request(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    });
    req.on('response', (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => {});
    req.on('timeout', reject);
    req.end(body());
  });
  const t0 = Date.now();
  await upstreamClosed;
  assert.ok(Date.now() - t0 < 1000, 'upstream socket closed promptly');
  up.handle(chatSse({ words: ['ok'] }));
  const s = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'x' }],
    stream: true,
  });
  let text = '';
  for await (const c of s) text += c.choices[0]?.delta.content ?? '';
  assert.equal(text, 'ok');
});

test('heartbeat comments flow while the upstream is silent', async () => {
  up.handle(chatSse({ words: ['late'], firstDelayMs: 2300 }));
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: body(),
  });
  assert.equal(r.status, 200);
  const raw = await r.text();
  const beats = raw.split(':\n\n').length - 1;
  assert.ok(beats >= 2, `expected ≥2 heartbeats, got ${beats}`);
  assert.ok(raw.indexOf(':\n\n') < raw.indexOf('data:'));
  assert.ok(raw.endsWith('data: [DONE]\n\n'));
});

test('stream budget from the model: a silent first chunk fails before commit (504), a mid-stream stall ends with a timeout frame', async () => {
  up.handle(chatSse({ words: ['x'], firstDelayMs: 1000 }));
  const auth = { authorization: 'Bearer sk-all', 'content-type': 'application/json' };
  const first = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: auth,
    body: body('budget-model'),
  });
  assert.equal(first.status, 504);
  assert.equal(((await first.json()) as { error: { type: string } }).error.type, 'timeout');
  up.handle(chatSse({ words: ['a', 'b', 'c'], gapMs: 600 }));
  const stall = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: auth,
    body: body('budget-model'),
  });
  assert.equal(stall.status, 200);
  const raw = await stall.text();
  assert.match(
    raw,
    /event: error\ndata: \{"error":\{"message":"upstream request timed out after 300ms","type":"timeout"\}\}\n\n$/,
  );
  await sleep(10);
});

test('a client that stops reading does not make the upstream look stalled: no timeout frame while the gateway holds the upstream back', async () => {
  // The stream budget bounds the upstream's gaps (data-plane §8.2). While the caller's socket is
  // full the gateway stops reading the upstream (backpressure): that gap is the caller's, not a
  // stall of the upstream, and must not end the stream nor cool the target down.
  const piece = 'x'.repeat(4096);
  const count = 8000; // ~32 MiB: more than the loopback socket buffers hold on both sides
  up.handle(async (req, res) => {
    const m = `${String(req.json?.model)}-2024`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let i = 0; i < count; i++) {
      const frame = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: m, choices: [{ index: 0, delta: { content: piece } }] })}\n\n`;
      if (!res.write(frame)) await new Promise((r) => res.once('drain', r));
      if (res.destroyed) return;
    }
    res.end('data: [DONE]\n\n');
  });
  const raw = await new Promise<string>((resolve, reject) => {
    const req = request(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-all', 'content-type': 'application/json' },
    });
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.once('data', (c: Buffer) => {
        parts.push(c);
        // Stop reading for four times the 300 ms budget, then read everything.
        res.pause();
        setTimeout(() => {
          res.on('data', (d: Buffer) => parts.push(d));
          res.resume();
        }, 1200);
      });
      res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body('budget-model'));
  });
  assert.ok(!raw.includes('event: error'), raw.slice(raw.lastIndexOf('data:')));
  assert.ok(raw.endsWith('data: [DONE]\n\n'));
  assert.equal(raw.split(piece).length - 1, count);
  assert.equal(g.gw.health.state('budget')?.consecutiveFailures ?? 0, 0);
});

test('in-band upstream error before any delivery is answered as an HTTP error', async () => {
  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('data: {"error":{"message":"quota exhausted","type":"insufficient_quota","code":"429"}}\n\n');
  });
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-all', 'content-type': 'application/json' },
    body: body('budget-model'),
  });
  assert.equal(r.status, 429);
  // data-plane §6.2: a numeric-string code in 400-599 is the embedded status, not also a code.
  assert.deepEqual(await r.json(), {
    error: { message: 'quota exhausted', type: 'upstream_error' },
  });
  // Without an embedded status it is a 502 that keeps the upstream's string code and param
  // (§6.2 "otherwise string code kept"; §7.3: in-band before commit, code derived as for 4xx).
  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(
      'data: {"error":{"message":"context too long","code":"context_length_exceeded","param":"messages"}}\n\n',
    );
  });
  const noStatus = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-all', 'content-type': 'application/json' },
    body: body('budget-model'),
  });
  assert.equal(noStatus.status, 502);
  assert.deepEqual(await noStatus.json(), {
    error: {
      message: 'context too long',
      type: 'upstream_error',
      code: 'context_length_exceeded',
      param: 'messages',
    },
  });
});

test('a JSON answer to a stream request is no stream: its error object is answered as an HTTP error, anything else is undecodable', async () => {
  // Some OpenAI-compatible upstreams answer a failing stream request with 200 and a JSON error
  // body: that is the in-band error of §6.2 (an embedded 400–599 code is the status), not an
  // empty successful stream. No resource stream budget here: the head is otherwise committed at once.
  const cases: [unknown, number, unknown][] = [
    [
      { error: { message: 'slow down', type: 'rate_limit', code: 429 } },
      429,
      { error: { message: 'slow down', type: 'upstream_error' } },
    ],
    [
      { error: { message: 'no credit', code: 'insufficient_quota' } },
      502,
      { error: { message: 'no credit', type: 'upstream_error', code: 'insufficient_quota' } },
    ],
  ];
  for (const [answer, status, expected] of cases) {
    up.handle((_req, res) => json(res, 200, answer, { 'content-type': 'application/json; charset=utf-8' }));
    const r = await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
      body: body(),
    });
    assert.equal(r.status, status, JSON.stringify(answer));
    assert.deepEqual(await r.json(), expected);
  }
  // A whole completion where a stream was asked for: not a stream the gateway can relay.
  up.handle(chatJson('not streamed'));
  const whole = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: body(),
  });
  assert.equal(whole.status, 502);
  assert.equal(((await whole.json()) as { error: { type: string } }).error.type, 'upstream_decode_error');
  // The OpenAI SDK sees a typed API error, not an empty stream.
  up.handle((_req, res) => json(res, 200, { error: { message: 'boom' } }));
  await assert.rejects(
    client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    }),
    (e: unknown) => e instanceof OpenAI.APIError && e.status === 502 && e.message.includes('boom'),
  );
});

test('the 200 head reaches the client before a slow first token', async () => {
  up.handle(chatSse({ words: ['late'], firstDelayMs: 800 }));
  const t0 = Date.now();
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: body(),
  });
  assert.equal(r.status, 200);
  assert.ok(Date.now() - t0 < 500, `head after ${Date.now() - t0} ms`);
  assert.ok((await r.text()).endsWith('data: [DONE]\n\n'));
});

test('stream usage reaches the completion hook: token metrics count the streamed usage', async () => {
  up.handle(chatSse({ words: ['x', 'y'] }));
  const all = new OpenAI({ apiKey: 'sk-all', baseURL: `${g.base}/v1`, maxRetries: 0 });
  const stream = await all.chat.completions.create({
    model: 'usage-model',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  for await (const _ of stream) {
    // drain
  }
  const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
  assert.match(text, /aisix_llm_total_tokens_total\{[^}]*,model="usage-model",[^}]*\} 12\n/);
});

test('an upstream event past 32 MiB ends the stream with an error frame and aborts the upstream', async () => {
  // A broken upstream that never ends its event line must not grow the gateway's memory
  // without bound: the event is refused at its cap, the caller told, the upstream released.
  let written = 0;
  let upstreamClosed = false;
  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(
      'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}\n\n',
    );
    res.write('data: {"id":"c1","choices":[{"index":0,"delta":{"content":"');
    const chunk = 'x'.repeat(1024 * 1024);
    res.on('close', () => {
      upstreamClosed = true;
    });
    const pump = () => {
      while (!res.destroyed && written < 64 * 1024 * 1024) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  });
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: body(),
  });
  assert.equal(r.status, 200);
  const raw = await r.text();
  assert.match(raw, /"content":"a"/);
  assert.ok(!raw.includes('[DONE]'));
  assert.match(raw, /event: error\ndata: \{"error":\{"message":"[^"]*exceeds 32 MiB[^"]*"/);
  assert.ok(raw.length < 64 * 1024, 'the oversized event is never relayed');
  for (let i = 0; i < 50 && !upstreamClosed; i++) await sleep(20);
  assert.ok(upstreamClosed, 'the upstream response was abandoned');
  assert.ok(written < 64 * 1024 * 1024, `the upstream was cut off before its end (${written} bytes)`);
});
