/**
 * Usage events through a started gateway (data-plane §12.3), driven by the official OpenAI SDK:
 * one event per upstream attempt (a failed attempt with zero tokens, the winner with its usage and
 * cost), one terminal event for a request that never reached an upstream, estimated usage marked
 * as such, and the access log line agreeing with the events on tokens, status, attempts and
 * latency. A sink whose queue is full loses events (counted), never the request.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { pino } from 'pino';
import { ACCESS_LOG_MESSAGE, type AccessLine, FLUSH_DELAY_MS } from '../pipeline/access-log.js';
import { buildSnapshot, CALLER_KEY, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import {
  chatJson,
  chatSse,
  chunk,
  json,
  type MockUpstream,
  startMockUpstream,
  USAGE,
} from '../test/mock-upstream.js';
import { BoundedQueue, type UsageSink } from './bus.js';
import { preloadTokenizer } from './estimate.js';
import type { UsageEvent } from './events.js';

let up: MockUpstream;
let down: MockUpstream;
let g: Started;
let client: OpenAI;
const lines: AccessLine[] = [];

class CollectingSink implements UsageSink {
  readonly queue: BoundedQueue<UsageEvent>;
  constructor(
    readonly name: string,
    capacity: number,
  ) {
    this.queue = new BoundedQueue(capacity);
  }
  offer(events: readonly UsageEvent[]): number {
    let dropped = 0;
    for (const e of events) if (!this.queue.push(e)) dropped++;
    return dropped;
  }
  /** The events of request `id` (drained from the queue, others kept aside). */
  readonly seen: UsageEvent[] = [];
  async of(id: string, n: number): Promise<UsageEvent[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      this.seen.push(...this.queue.take(1000));
      const mine = this.seen.filter((e) => e.request_id === id);
      if (mine.length >= n) return mine;
      assert.ok(Date.now() < deadline, `only ${mine.length} events for ${id}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

const sink = new CollectingSink('test', 1000);

before(async () => {
  up = await startMockUpstream(chatJson('hi'));
  down = await startMockUpstream((_req, res) => json(res, 503, { error: { message: 'overloaded' } }));
  const docs = standardDocs(up.url, {
    provider_keys: {
      pkd: { display_name: 'down-key', api_key: 'kd', provider: 'openai', api_base: `${down.url}/v1` },
    },
    models: {
      td: { display_name: 'target-down', provider: 'openai', model_name: 'd', provider_key_id: 'pkd' },
      tu: {
        display_name: 'target-up',
        provider: 'openai',
        model_name: 'u',
        provider_key_id: 'pk1',
        cost: { input_per_1k: 0.5, output_per_1k: 1.5 },
      },
      grp: {
        display_name: 'grp',
        routing: { strategy: 'failover', targets: [{ model: 'target-down' }, { model: 'target-up' }] },
      },
    },
  });
  const log = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (l === '') continue;
        const parsed = JSON.parse(l) as AccessLine & { msg: string };
        if (parsed.msg === ACCESS_LOG_MESSAGE) lines.push(parsed);
      }
      cb();
    },
  });
  g = await startTestGateway(buildSnapshot(docs), undefined, { logger: pino({ level: 'info' }, log) });
  g.gw.usage.attach(sink);
  await preloadTokenizer('gpt-4o-mini');
  client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
  await down.close();
});

async function lineOf(id: string): Promise<AccessLine> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const l = lines.find((x) => x.request_id === id);
    if (l) return l;
    assert.ok(Date.now() < deadline, `no access line for ${id}`);
    await new Promise((r) => setTimeout(r, FLUSH_DELAY_MS));
  }
}

async function metric(prefix: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('fail-over: one event per attempt, zero tokens on the failed one, usage and cost on the winner', async () => {
  up.handle(chatJson('hi'));
  const { data, response } = await client.chat.completions
    .create(
      { model: 'grp', messages: [{ role: 'user', content: 'hello' }] },
      { headers: { 'user-agent': 'my-app/1.0\tx' } },
    )
    .withResponse();
  assert.equal(data.choices[0]?.message.content, 'hi');
  const id = response.headers.get('x-aisix-request-id') as string;
  const [first, second] = await sink.of(id, 2);
  assert.ok(first && second);
  assert.equal(first.attempt_index, 0);
  assert.equal(first.attempt_kind, 'initial');
  assert.equal(first.model_id, 'td');
  assert.equal(first.attempt_model, 'd');
  assert.equal(first.status_code, 503);
  assert.equal(first.error_class, 'upstream_error');
  assert.equal(first.prompt_tokens + first.completion_tokens, 0);
  assert.equal(first.cost_usd, null);
  assert.equal(first.pk_label, 'down-key');
  assert.equal(second.attempt_index, 1);
  assert.equal(second.attempt_kind, 'fallback');
  assert.equal(second.model_id, 'tu');
  assert.equal(second.status_code, 200);
  assert.equal(second.error_class, null);
  assert.equal(second.prompt_tokens, USAGE.prompt_tokens);
  assert.equal(second.completion_tokens, USAGE.completion_tokens);
  assert.equal(second.usage_estimated, false);
  // 9 prompt tokens at 0.5 USD/1k + 3 completion tokens at 1.5 USD/1k.
  assert.equal(second.cost_usd, 0.009);
  assert.equal(second.finish_reason, 'stop');
  assert.equal(second.requested_model, 'grp');
  assert.equal(second.api_key_id, 'k1');
  assert.equal(second.inbound_protocol, 'openai');
  assert.equal(second.cache_status, 'disabled');
  assert.equal(second.client_user_agent, 'my-app/1.0x', 'control characters stripped');
  assert.equal(second.client_source_ip, '127.0.0.1');
  assert.match(second.occurred_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  // The access line agrees: tokens, status, attempts, latency split.
  const l = await lineOf(id);
  assert.equal(l.status, 200);
  assert.equal(l.prompt_tokens, second.prompt_tokens);
  assert.equal(l.completion_tokens, second.completion_tokens);
  assert.equal(l.routing_attempt_count, 2);
  assert.equal(l.routing_fallback_count, 1);
  assert.equal(l.usage_estimated, false);
  const upstream = (first.upstream_latency_ms ?? 0) + (second.upstream_latency_ms ?? 0);
  assert.ok(
    Math.abs((l.upstream_latency_ms ?? -1) - upstream) < 0.01,
    `${l.upstream_latency_ms} vs ${upstream}`,
  );
  assert.ok(l.gateway_latency_ms !== null && l.gateway_latency_ms >= 0);
  assert.ok(Math.abs(l.latency_ms - (upstream + l.gateway_latency_ms)) < 0.01);
  assert.equal(second.downstream_latency_ms, l.latency_ms);
  // Spend in micro-USD on the serving model's token series.
  const spend = await metric(
    'aisix_llm_spend_micro_usd_total{endpoint="/v1/chat/completions",inbound_protocol="openai",provider="openai",model="grp",upstream_model="u",provider_key_id="pk1",provider_key_name="mock",api_key_id="k1",team_id="unknown",user_id="unknown",user_name="unknown"}',
  );
  assert.equal(spend, Math.round(second.cost_usd * 1e6));
});

test('a request refused before dispatch: one terminal event', async () => {
  const res = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(res.status, 404);
  const id = res.headers.get('x-aisix-request-id') as string;
  const [e] = await sink.of(id, 1);
  assert.ok(e);
  assert.equal(e.status_code, 404);
  assert.equal(e.attempt_index, 0);
  assert.equal(e.model_id, null);
  assert.equal(e.requested_model, 'no-such-model');
  assert.equal(e.upstream_latency_ms, null);
  assert.equal(e.prompt_tokens, 0);
  const l = await lineOf(id);
  assert.equal(e.error_class, l.error_kind);
  assert.equal(e.error_message, l.error);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(sink.seen.filter((x) => x.request_id === id).length, 1);
});

test('a model name of any length: the event keeps its first 256 characters (queued events stay small)', async () => {
  const post = (model: string) =>
    fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }),
    });
  // Unresolved (a terminal event) and served through the `mock/*` wildcard (an attempt event).
  for (const [model, status] of [
    [`no-such-${'n'.repeat(100_000)}`, 404],
    [`mock/${'w'.repeat(100_000)}`, 200],
  ] as const) {
    const res = await post(model);
    assert.equal(res.status, status);
    await res.arrayBuffer();
    const [e] = await sink.of(res.headers.get('x-aisix-request-id') as string, 1);
    assert.equal(e?.requested_model, model.slice(0, 256));
    assert.ok(JSON.stringify(e).length < 4096, "no field carries the caller's whole name");
  }
});

test('a stream without usage: estimated tokens, marked, the same on the line; TTFT on both', async () => {
  up.handle(chatSse({ words: ['Hel', 'lo', '!'], gapMs: 5 }));
  const { data: s, response } = await client.chat.completions
    .create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
      stream_options: { include_usage: false },
    })
    .withResponse();
  for await (const _ of s) {
  }
  const id = response.headers.get('x-aisix-request-id') as string;
  const [e] = await sink.of(id, 1);
  assert.ok(e);
  assert.equal(e.usage_estimated, true);
  // o200k_base for gpt-4o-mini: 3 + "user" + "hello" + 3 = 8; "Hello!" = 2.
  assert.equal(e.prompt_tokens, 8);
  assert.equal(e.completion_tokens, 2);
  assert.ok(e.upstream_ttft_ms !== null && e.upstream_ttft_ms > 0);
  const l = await lineOf(id);
  assert.equal(l.usage_estimated, true);
  assert.equal(l.prompt_tokens, 8);
  assert.equal(l.total_tokens, 10);
  assert.equal(l.ttft_ms, e.upstream_ttft_ms);
});

test('a stream that fails after commit: the served attempt keeps its usage and cost, and names its failure like the access line', async () => {
  // Content and the usage chunk, then the socket drops before [DONE].
  up.handle(async (req, res) => {
    const m = `${String(req.json?.model)}-2024`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk(m, { role: 'assistant', content: 'part' }));
    res.write(
      `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1700000000, model: m, choices: [], usage: USAGE })}\n\n`,
    );
    await new Promise((r) => setTimeout(r, 30));
    res.socket?.destroy();
  });
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-all', 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'target-up',
      stream: true,
      messages: [{ role: 'user', content: 'hello' }],
    }),
  });
  assert.equal(r.status, 200);
  assert.match(await r.text(), /event: error\n/);
  const id = r.headers.get('x-aisix-request-id') as string;
  const [e] = await sink.of(id, 1);
  assert.ok(e);
  assert.equal(e.status_code, 200);
  assert.equal(e.prompt_tokens, USAGE.prompt_tokens);
  assert.equal(e.completion_tokens, USAGE.completion_tokens);
  assert.equal(e.usage_estimated, false);
  assert.equal(e.cost_usd, 0.009);
  const l = await lineOf(id);
  assert.equal(l.error_kind, 'transport_error');
  assert.equal(e.error_class, l.error_kind);
  assert.equal(e.error_message, l.error);
  assert.equal(l.total_tokens, USAGE.total_tokens);
});

test('a full sink queue drops events (counted) and the request is served', async () => {
  const tiny = new CollectingSink('tiny', 1);
  g.gw.usage.attach(tiny);
  const before = (await metric('aisix_usage_event_drops_total{reason="queue_full"}')) ?? 0;
  up.handle(chatJson('hi'));
  for (let i = 0; i < 3; i++) {
    const r = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(r.choices[0]?.message.content, 'hi');
  }
  g.gw.usage.detach(tiny);
  assert.equal(tiny.queue.size, 1);
  assert.equal(await metric('aisix_usage_event_drops_total{reason="queue_full"}'), before + 2);
  const emitted = await metric(
    'aisix_usage_events_emitted_total{handler="/v1/chat/completions",status_code="2xx",inbound_protocol="openai"}',
  );
  assert.ok(emitted !== undefined && emitted >= 3);
});

test('bounded queue: FIFO, fixed capacity', () => {
  const q = new BoundedQueue<number>(3);
  assert.equal(q.push(1) && q.push(2) && q.push(3), true);
  assert.equal(q.push(4), false);
  assert.deepEqual(q.take(2), [1, 2]);
  assert.equal(q.push(5), true);
  assert.deepEqual(q.take(10), [3, 5]);
  assert.equal(q.size, 0);
  assert.throws(() => new BoundedQueue(0), RangeError);
});

test('events of the requests that finished before the gateway closes are all published', async () => {
  // Finished requests are recorded in batches (64 or 20 ms): closing must not lose the last ones.
  const own = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  const last = new CollectingSink('last', 100);
  own.gw.usage.attach(last);
  const c = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${own.base}/v1`, maxRetries: 0 });
  up.handle(chatJson('hi'));
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const { response } = await c.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] })
      .withResponse();
    ids.push(response.headers.get('x-aisix-request-id') as string);
  }
  await own.gw.close();
  assert.deepEqual(
    last.queue.take(100).map((e) => e.request_id),
    ids,
  );
});
