/**
 * Tracing end to end: the gateway in-process, real OTLP/HTTP JSON export to a mock collector
 * (a real local HTTP server), traffic from the official openai SDK against a mock upstream.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import type { DecodedSpan } from '@aisix/testkit/otlp';
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Started,
  sha256,
  standardDocs,
  startTestGateway,
} from '../test/fixtures.js';
import { type MockCollector, startMockCollector } from '../test/mock-collector.js';
import { chatJson, json, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';
import { createTracing, type Tracing } from './index.js';

const PROMPT = 'my-very-private-prompt-text';

let up: MockUpstream;
let col: MockCollector;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  up = await startMockUpstream();
  col = await startMockCollector();
});

after(async () => {
  await up.close();
  await col.close();
});

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  up.handle(chatJson());
  col.reset();
});

function docs() {
  return standardDocs(up.url, {
    models: {
      m5: {
        display_name: 'flaky',
        provider: 'openai',
        model_name: 'flaky-up',
        provider_key_id: 'pk1',
        retries: 1,
      },
      g1: {
        display_name: 'grp',
        routing: { strategy: 'failover', targets: [{ model: 'gpt-4o-mini' }, { model: 'secret-model' }] },
      },
    },
    api_keys: { k1: { key_hash: sha256(CALLER_KEY), allowed_models: ['*'] } },
  });
}

async function gatewayWith(
  otlp: { endpoint?: string; sample_ratio?: number },
  extra: Parameters<typeof createTracing>[1] extends infer T ? Partial<T> : never = {},
): Promise<{ g: Started; tracing: Tracing; client: OpenAI }> {
  const tracing = createTracing(
    {
      service_name: 'aisix-test',
      tracing: {
        otlp: { enabled: true, endpoint: otlp.endpoint ?? col.url, sample_ratio: otlp.sample_ratio ?? 1 },
      },
    },
    { version: '1.2.3', flushIntervalMs: 20, backoffMs: 20, ...extra },
  );
  assert.ok(tracing, 'enabled config yields a tracer');
  const g = await startTestGateway(buildSnapshot(docs()), undefined, { tracer: tracing.tracer });
  cleanup.push(
    () => tracing.shutdown(1000),
    () => g.gw.close(),
  );
  const client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  return { g, tracing, client };
}

/** The attribute's value as sent (64-bit integers as their decimal strings). */
const attr = (s: DecodedSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : Object.values(v)[0];
};

const chat = (client: OpenAI, model = 'gpt-4o-mini') =>
  client.chat.completions.create({ model, messages: [{ role: 'user', content: PROMPT }] }).withResponse();

test('createTracing: off by default and when disabled', () => {
  assert.equal(createTracing(undefined, { version: '1' }), undefined);
  assert.equal(
    createTracing({ tracing: { otlp: { enabled: false, endpoint: col.url } } }, { version: '1' }),
    undefined,
  );
});

test('a chat call exports one SERVER span and one CLIENT child over OTLP/HTTP JSON', async () => {
  const { client } = await gatewayWith({});
  const { response } = await chat(client);
  const rid = response.headers.get('x-aisix-request-id') ?? '';
  const spans = await col.waitForSpans(2);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(col.spans().length, 2, 'exactly two spans');
  const server = spans.find((s) => s.kind === 2);
  const client3 = spans.find((s) => s.kind === 3);
  assert.ok(server && client3);
  // The wire format.
  const post = col.posts[0];
  assert.equal(post?.url, '/v1/traces');
  assert.equal(post?.headers['content-type'], 'application/json');
  const rs = post?.body?.resourceSpans[0];
  assert.deepEqual(rs?.resource.attributes, [{ key: 'service.name', value: { stringValue: 'aisix-test' } }]);
  assert.deepEqual(rs?.scopeSpans[0]?.scope, { name: 'aisix-gateway', version: '1.2.3' });
  // Hierarchy: same trace, the attempt's parent is the request span; the trace id is the request id.
  assert.match(server.traceId, /^[0-9a-f]{32}$/);
  assert.match(server.spanId, /^[0-9a-f]{16}$/);
  assert.equal(server.traceId, rid.replaceAll('-', ''));
  assert.equal(client3.traceId, server.traceId);
  assert.equal(client3.parentSpanId, server.spanId);
  assert.equal(server.parentSpanId, undefined);
  assert.notEqual(client3.spanId, server.spanId);
  // Request span.
  assert.equal(server.name, 'POST /v1/chat/completions');
  assert.equal(attr(server, 'http.request.method'), 'POST');
  assert.equal(attr(server, 'http.route'), '/v1/chat/completions');
  assert.equal(attr(server, 'http.response.status_code'), '200');
  assert.equal(attr(server, 'aisix.request_id'), rid);
  assert.equal(attr(server, 'aisix.api_key_id'), 'k1');
  assert.equal(attr(server, 'gen_ai.request.model'), 'gpt-4o-mini');
  assert.equal(attr(server, 'gen_ai.usage.input_tokens'), '9');
  assert.equal(attr(server, 'gen_ai.usage.output_tokens'), '3');
  assert.equal(attr(server, 'aisix.error_type'), undefined);
  assert.deepEqual(server.status, { code: 1 });
  // Attempt span.
  assert.equal(client3.name, 'chat.completions');
  assert.equal(attr(client3, 'gen_ai.system'), 'openai');
  // data-plane §12.4 and the GenAI semantic conventions: the operation of a chat call is `chat`.
  assert.equal(attr(client3, 'gen_ai.operation.name'), 'chat');
  assert.equal(attr(client3, 'gen_ai.response.model'), 'gpt-4o-mini');
  assert.equal(attr(client3, 'aisix.attempt_index'), '0');
  assert.equal(attr(client3, 'aisix.attempt_kind'), 'initial');
  assert.equal(attr(client3, 'aisix.attempt_model'), 'gpt-4o-mini');
  assert.equal(attr(client3, 'http.response.status_code'), '200');
  assert.deepEqual(client3.status, { code: 1 });
  // Times: nanosecond strings, the attempt inside the request.
  for (const s of spans) {
    assert.match(s.startTimeUnixNano, /^\d{19}$/);
    assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano));
  }
  assert.ok(BigInt(client3.startTimeUnixNano) >= BigInt(server.startTimeUnixNano));
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  assert.ok(nowNs - BigInt(server.startTimeUnixNano) < 60_000_000_000n, 'wall-clock time');
});

test('a model name of any length: spans carry its first 256 characters (the queue stays small)', async () => {
  const { client } = await gatewayWith({});
  const model = `mock/${'w'.repeat(100_000)}`;
  await chat(client, model);
  const spans = await col.waitForSpans(2);
  const server = spans.find((s) => s.kind === 2);
  const attempt = spans.find((s) => s.kind === 3);
  assert.equal(attr(server as DecodedSpan, 'gen_ai.request.model'), model.slice(0, 256));
  // `mock/*` serves `up-<name>`: the wildcard's upstream name is the caller's too.
  assert.equal(
    attr(attempt as DecodedSpan, 'gen_ai.request.model'),
    `up-${'w'.repeat(100_000)}`.slice(0, 256),
  );
  for (const s of spans) assert.ok(JSON.stringify(s).length < 4096, s.name);
});

test('a retried call exports two CLIENT children (initial ERROR, retry OK); a fail-over marks fallback', async () => {
  const { client } = await gatewayWith({});
  let n = 0;
  up.handle((req, res) => {
    n++;
    if (n === 1) return json(res, 503, { error: { message: 'busy', type: 'server_error' } });
    return chatJson()(req, res);
  });
  await chat(client, 'flaky');
  const spans = await col.waitForSpans(3);
  const server = spans.find((s) => s.kind === 2);
  const attempts = spans.filter((s) => s.kind === 3);
  assert.ok(server);
  assert.equal(attempts.length, 2);
  for (const a of attempts) {
    assert.equal(a.traceId, server.traceId);
    assert.equal(a.parentSpanId, server.spanId);
  }
  const [first, second] = attempts.sort(
    (a, b) => Number(attr(a, 'aisix.attempt_index')) - Number(attr(b, 'aisix.attempt_index')),
  );
  assert.equal(attr(first as DecodedSpan, 'aisix.attempt_kind'), 'initial');
  assert.equal(attr(first as DecodedSpan, 'http.response.status_code'), '503');
  assert.equal(attr(first as DecodedSpan, 'error.type'), 'http_503');
  assert.equal(first?.status.code, 2);
  assert.equal(attr(second as DecodedSpan, 'aisix.attempt_kind'), 'retry');
  assert.equal(attr(second as DecodedSpan, 'aisix.attempt_index'), '1');
  assert.equal(second?.status.code, 1);
  assert.equal(attr(server, 'aisix.attempts'), '2');
  assert.equal(server.status.code, 1);

  // Fail-over inside a group: both targets fail with 500 -> request span ERROR, second attempt "fallback".
  up.handle((_req, res) => json(res, 500, { error: { message: 'down', type: 'server_error' } }));
  await assert.rejects(chat(client, 'grp'));
  const all = await col.waitForSpans(6);
  const grpServer = all.slice(3).find((s) => s.kind === 2);
  const grpAttempts = all.slice(3).filter((s) => s.kind === 3);
  assert.ok(grpServer);
  assert.equal(grpAttempts.length, 2);
  assert.deepEqual(grpAttempts.map((a) => attr(a, 'aisix.attempt_kind')).sort(), ['fallback', 'initial']);
  assert.deepEqual(grpAttempts.map((a) => attr(a, 'aisix.attempt_model')).sort(), [
    'gpt-4o-mini',
    'secret-model',
  ]);
  for (const a of grpAttempts) assert.equal(a.parentSpanId, grpServer.spanId);
  assert.equal(grpServer.status.code, 2);
  assert.equal(attr(grpServer, 'http.response.status_code'), '502');
  assert.ok(attr(grpServer, 'aisix.error_type'));
});

test('sample_ratio 0 exports nothing; the request is served', async () => {
  const { client, tracing } = await gatewayWith({ sample_ratio: 0 });
  for (let i = 0; i < 5; i++) await chat(client);
  await tracing.shutdown(1000);
  assert.equal(col.posts.length, 0);
  assert.deepEqual(tracing.exporter.stats(), { queued: 0, exported: 0, dropped: 0, failed: 0, posts: 0 });
});

test('sample_ratio is deterministic per trace and near the ratio', async () => {
  const { sampled } = await import('./ids.js');
  const { randomUUID } = await import('node:crypto');
  let hits = 0;
  for (let i = 0; i < 4000; i++) if (sampled(randomUUID().replaceAll('-', ''), 0.25)) hits++;
  assert.ok(hits > 800 && hits < 1200, `~25% sampled, got ${hits}/4000`);
  const id = 'ab'.repeat(16);
  assert.equal(sampled(id, 0.5), sampled(id, 0.5));
  assert.equal(sampled('0'.repeat(24) + '80000000', 0.5), false);
  assert.equal(sampled('0'.repeat(24) + '7fffffff', 0.5), true);
});

test('a caller traceparent is continued (sampled) or respected (not sampled)', async () => {
  const { client } = await gatewayWith({});
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parent = '00f067aa0ba902b7';
  await client.chat.completions.create(
    { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
    { headers: { traceparent: `00-${traceId}-${parent}-01` } },
  );
  const spans = await col.waitForSpans(2);
  const server = spans.find((s) => s.kind === 2);
  assert.equal(server?.traceId, traceId);
  assert.equal(server?.parentSpanId, parent);
  assert.ok(spans.every((s) => s.traceId === traceId));
  await client.chat.completions.create(
    { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
    { headers: { traceparent: `00-${traceId}-${parent}-00` } },
  );
  // A malformed one starts a fresh trace.
  await client.chat.completions.create(
    { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
    { headers: { traceparent: `00-${'0'.repeat(32)}-${parent}-01` } },
  );
  const after3 = await col.waitForSpans(4);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(col.spans().length, 4, 'the unsampled parent exported nothing');
  assert.notEqual(after3[2]?.traceId, traceId);
});

test('a collector that hangs never delays requests; a full queue drops and counts', async () => {
  const { client, tracing } = await gatewayWith({}, { maxQueue: 4, maxBatch: 2, timeoutMs: 30_000 });
  col.respond('hang');
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 12 }, () => chat(client)));
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `12 requests took ${ms} ms`);
  const s = tracing.exporter.stats();
  // 24 spans: one batch of 2 in flight (hanging), 4 queued, the rest dropped.
  assert.ok(s.dropped >= 12, `dropped ${s.dropped}`);
  assert.ok(s.queued <= 4);
  const t1 = performance.now();
  const end = await tracing.shutdown(300);
  assert.ok(performance.now() - t1 < 2000, 'shutdown is bounded');
  assert.equal(end.exported, 0);
  assert.equal(end.dropped + end.failed + end.queued >= 24 - 2, true);
});

test('a collector that is down (connection refused) never fails requests', async () => {
  const dead = await startMockCollector();
  const deadUrl = dead.url;
  await dead.close();
  const { client, tracing } = await gatewayWith({ endpoint: deadUrl }, { maxRetries: 1 });
  for (let i = 0; i < 3; i++) {
    const { response } = await chat(client);
    assert.equal(response.status, 200);
  }
  await tracing.exporter.flush();
  const s = tracing.exporter.stats();
  assert.equal(s.exported, 0);
  assert.ok(s.failed >= 6, `failed ${s.failed}`);
});

test('shutdown flushes what is queued', async () => {
  const { client, tracing } = await gatewayWith({}, { flushIntervalMs: 60_000 });
  await chat(client);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(col.posts.length, 0, 'nothing sent before the interval');
  const s = await tracing.shutdown(2000);
  assert.equal(s.exported, 2);
  assert.equal(col.spans().length, 2);
  // After shutdown new spans are dropped, not sent.
  await chat(client);
  assert.equal(tracing.exporter.stats().dropped, 2);
});

test('no secret or prompt appears in any exported byte', async () => {
  const { client } = await gatewayWith({});
  await chat(client);
  up.handle((_req, res) =>
    json(res, 400, { error: { message: `bad input: ${PROMPT}`, type: 'invalid_request_error' } }),
  );
  await assert.rejects(chat(client));
  await col.waitForSpans(4);
  const bytes = col.posts.map((p) => p.raw).join('\n');
  assert.ok(bytes.length > 0);
  for (const secret of ['sk-upstream-secret', CALLER_KEY, sha256(CALLER_KEY), PROMPT]) {
    assert.equal(bytes.includes(secret), false, `exported bytes contain ${secret}`);
  }
  for (const p of col.posts) assert.equal(JSON.stringify(p.headers).includes('sk-'), false);
});

test('each guardrail evaluation is an INTERNAL child span with names and the result only', async () => {
  const { g, client } = await gatewayWith({});
  const d = docs() as Record<string, unknown>;
  g.source.set(
    buildSnapshot(
      {
        ...d,
        guardrails: {
          gk: { name: 'no-private', kind: 'keyword', patterns: [{ kind: 'literal', value: 'very-private' }] },
        },
      } as Parameters<typeof buildSnapshot>[0],
      2,
    ),
  );
  await assert.rejects(chat(client), (e: unknown) => e instanceof OpenAI.APIError && e.status === 422);
  // The guardrail child and the SERVER span (a refused request makes no attempt).
  const spans = await col.waitForSpans(2);
  const gs = spans.find((s) => s.name === 'guardrail no-private');
  const server = spans.find((s) => s.kind === 2);
  assert.ok(gs && server);
  assert.equal(gs.parentSpanId, server.spanId);
  assert.equal(gs.kind, 1);
  assert.equal(attr(gs, 'aisix.guardrail.result'), 'block');
  assert.equal(attr(gs, 'aisix.guardrail.phase'), 'input');
  assert.equal(JSON.stringify(spans).includes(PROMPT), false);
});

test('the response cache lookup is an INTERNAL child span: policy, status, layer', async () => {
  const { g, client } = await gatewayWith({});
  const d = docs() as Record<string, unknown>;
  g.source.set(
    buildSnapshot(
      {
        ...d,
        cache_policies: { c1: { name: 'traced-cache', applies_to: 'all', ttl_seconds: 60 } },
      } as Parameters<typeof buildSnapshot>[0],
      2,
    ),
  );
  const miss = await chat(client);
  assert.equal(miss.response.headers.get('x-aisix-cache'), 'miss');
  const hit = await chat(client);
  assert.equal(hit.response.headers.get('x-aisix-cache'), 'hit');
  // miss: SERVER + cache + CLIENT; hit: SERVER + cache (no attempt).
  const spans = await col.waitForSpans(5);
  const caches = spans.filter((s) => s.name === 'cache traced-cache');
  assert.equal(caches.length, 2);
  const servers = spans.filter((s) => s.kind === 2);
  assert.equal(servers.length, 2);
  for (const c of caches) {
    assert.equal(c.kind, 1);
    assert.ok(servers.some((s) => s.spanId === c.parentSpanId && s.traceId === c.traceId));
    assert.equal(attr(c, 'aisix.cache.policy'), 'traced-cache');
  }
  const statuses = caches.map((c) => attr(c, 'aisix.cache.status')).sort();
  assert.deepEqual(statuses, ['hit', 'miss']);
  const hitSpan = caches.find((c) => attr(c, 'aisix.cache.status') === 'hit');
  assert.equal(hitSpan && attr(hitSpan, 'aisix.cache.layer'), 'exact');
  assert.equal(spans.filter((s) => s.kind === 3).length, 1);
});
