/**
 * Usage events agree with the token metrics on every endpoint family, JSON and streamed, driven
 * by the official OpenAI and Anthropic SDKs (the shared rig's mocks: fixed usage per family).
 * One event per request here (one attempt each), `inbound_protocol` per dialect, tokens as the
 * upstream reported them and as the token series counted them.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { type Rig, startRig, TOKENS } from '../test/rate-limit-rig.js';
import { BoundedQueue, type UsageSink } from './bus.js';
import type { UsageEvent } from './events.js';

let rig: Rig;
const queue = new BoundedQueue<UsageEvent>(10_000);
const seen: UsageEvent[] = [];
const sink: UsageSink = {
  name: 'families',
  offer(events) {
    let dropped = 0;
    for (const e of events) if (!queue.push(e)) dropped++;
    return dropped;
  },
};

before(async () => {
  rig = await startRig();
  rig.g.gw.usage.attach(sink);
});

after(() => rig.close());

/** The only event of the latest request on `model`. */
async function eventOf(model: string): Promise<UsageEvent> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    seen.push(...queue.take(1000));
    const mine = seen.filter((e) => e.requested_model === model);
    if (mine.length > 0) {
      assert.equal(mine.length, 1, 'one attempt, one event');
      return mine[0] as UsageEvent;
    }
    assert.ok(Date.now() < deadline, `no event for ${model}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function metricTokens(model: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${rig.g.gw.metricsPort}/metrics`)).text();
  let sum = 0;
  for (const l of text.split('\n'))
    if (l.startsWith('aisix_llm_total_tokens_total{') && l.includes(`,model="${model}",`))
      sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  return sum;
}

async function drain(s: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of s) {
  }
}

const hello = [{ role: 'user' as const, content: 'hello' }];

const cases: {
  name: string;
  total: number;
  protocol: 'openai' | 'anthropic';
  run: (k: string, m: string) => Promise<unknown>;
}[] = [
  {
    name: 'chat JSON',
    total: TOKENS.chat,
    protocol: 'openai',
    run: (k, m) => rig.client(k).chat.completions.create({ model: m, messages: hello }),
  },
  {
    name: 'chat stream',
    total: TOKENS.chat,
    protocol: 'openai',
    run: async (k, m) =>
      drain(await rig.client(k).chat.completions.create({ model: m, messages: hello, stream: true })),
  },
  {
    name: 'completions JSON',
    total: TOKENS.completions,
    protocol: 'openai',
    run: (k, m) => rig.client(k).completions.create({ model: m, prompt: 'hi' }),
  },
  {
    name: 'embeddings',
    total: TOKENS.embeddings,
    protocol: 'openai',
    run: (k, m) => rig.client(k).embeddings.create({ model: m, input: 'hi' }),
  },
  {
    name: 'responses JSON',
    total: TOKENS.responses,
    protocol: 'openai',
    run: (k, m) => rig.client(k).responses.create({ model: m, input: 'hi' }),
  },
  {
    name: 'responses stream',
    total: TOKENS.responses,
    protocol: 'openai',
    run: async (k, m) => drain(await rig.client(k).responses.create({ model: m, input: 'hi', stream: true })),
  },
];

for (const c of cases) {
  test(`${c.name}: the event and the token series agree`, async () => {
    const model = rig.model();
    await c.run(rig.key(), model);
    const e = await eventOf(model);
    assert.equal(e.status_code, 200);
    assert.equal(e.inbound_protocol, c.protocol);
    assert.equal(e.attempt_kind, 'initial');
    assert.equal(e.usage_estimated, false);
    assert.equal(
      e.prompt_tokens + e.completion_tokens,
      c.total - e.cache_creation_tokens - e.cache_read_tokens,
    );
    assert.equal(await metricTokens(model), e.prompt_tokens + e.completion_tokens);
  });
}

for (const stream of [false, true]) {
  test(`anthropic messages ${stream ? 'stream' : 'JSON'} (native upstream): the event and the token series agree`, async () => {
    const model = rig.claude();
    const a = rig.anthropic(rig.key());
    if (stream)
      await drain(await a.messages.create({ model, max_tokens: 16, messages: hello, stream: true }));
    else await a.messages.create({ model, max_tokens: 16, messages: hello });
    const e = await eventOf(model);
    assert.equal(e.status_code, 200);
    assert.equal(e.inbound_protocol, 'anthropic');
    assert.equal(e.endpoint, '/v1/messages');
    // input 21 + output 5 + cache read 3 (TOKENS.anthropic).
    assert.equal(
      e.prompt_tokens + e.completion_tokens + e.cache_creation_tokens + e.cache_read_tokens,
      TOKENS.anthropic,
    );
    assert.ok(e.finish_reason !== null);
    assert.ok((await metricTokens(model)) > 0);
  });
}

test('a caller gone before the answer: the abandoned attempt is 499 client_disconnected, not an upstream failure', async () => {
  const key = rig.key();
  // JSON: the mock answers `slow-*` after 400 ms; the caller leaves after 100.
  const model = rig.model(undefined, 'slow-gone');
  await new Promise<void>((resolve) => {
    const req = request(`${rig.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    });
    req.on('error', () => resolve());
    req.end(JSON.stringify({ model, messages: hello }));
    setTimeout(() => {
      req.destroy();
      resolve();
    }, 100);
  });
  const e = await eventOf(model);
  assert.equal(e.status_code, 499);
  assert.equal(e.error_class, 'client_disconnected');
  assert.equal(e.error_message, 'client closed the connection');
  assert.equal(e.prompt_tokens, 0);
  assert.equal(e.attempt_kind, 'initial');
  // The caller's address is known though its connection is gone (data-plane §12.3).
  assert.equal(e.client_source_ip, new URL(rig.base).hostname);
});

test('a stream: downstream_latency_ms is the time to the first output written to the caller (§6.4)', async () => {
  const key = rig.key();
  // `slow-*`: eight words 120 ms apart, the first after 120 ms.
  const model = rig.model(undefined, 'slow-first-output');
  const t0 = performance.now();
  await drain(await rig.client(key).chat.completions.create({ model, messages: hello, stream: true }));
  const total = performance.now() - t0;
  const e = await eventOf(model);
  assert.ok(total >= 900, `the stream took ${total} ms`);
  assert.ok(e.upstream_ttft_ms !== null && e.upstream_ttft_ms >= 100, `ttft ${e.upstream_ttft_ms}`);
  assert.ok(e.downstream_latency_ms >= e.upstream_ttft_ms, `${e.downstream_latency_ms} < ttft`);
  assert.ok(e.downstream_latency_ms < total / 2, `${e.downstream_latency_ms} vs the whole ${total}`);
  assert.ok((e.upstream_latency_ms ?? 0) >= 900, 'the attempt spans the whole stream');
});
