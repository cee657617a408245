/**
 * The `otlp_http` observability exporter, live from the config store: added, it ships each
 * request as OTLP/HTTP JSON spans (one SERVER span per request, one CLIENT span per upstream
 * attempt under it, GenAI attributes) to a real local collector; a 5xx from the collector is
 * retried; `sample_rate: 0` ships nothing; removed, it ships nothing more. Every body is decoded
 * at runtime with the official OpenTelemetry definitions (the mock collector refuses one they
 * refuse) and all checks read the decoded message.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { attributeMap, type DecodedSpan, decodedSpans, decodedStrings } from '@aisix/testkit/otlp';
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Docs,
  type Started,
  sha256,
  standardDocs,
  startTestGateway,
} from '../test/fixtures.js';
import { type MockCollector, startMockCollector } from '../test/mock-collector.js';
import { chatJson, json, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

let up: MockUpstream;
let down: MockUpstream;
let col: MockCollector;
let g: Started;
let client: OpenAI;
let docs: Docs;
let revision = 1;
const PROMPT = 'a secret prompt';
const DOWN_PROVIDER_KEY = 'sk-down-provider-secret';

function apply(exporters: Record<string, Record<string, unknown>>): void {
  revision += 1;
  const all: Docs & { observability_exporters: Record<string, Record<string, unknown>> } = {
    ...docs,
    observability_exporters: exporters,
  };
  g.source.set(buildSnapshot(all, revision));
}

before(async () => {
  up = await startMockUpstream(chatJson('hi'));
  down = await startMockUpstream((_req, res) => json(res, 503, { error: { message: 'overloaded' } }));
  col = await startMockCollector();
  docs = standardDocs(up.url, {
    provider_keys: {
      pkd: {
        display_name: 'down-key',
        api_key: DOWN_PROVIDER_KEY,
        provider: 'openai',
        api_base: `${down.url}/v1`,
      },
    },
    models: {
      td: { display_name: 'target-down', provider: 'openai', model_name: 'd', provider_key_id: 'pkd' },
      tu: { display_name: 'target-up', provider: 'openai', model_name: 'u', provider_key_id: 'pk1' },
      grp: {
        display_name: 'grp',
        routing: { strategy: 'failover', targets: [{ model: 'target-down' }, { model: 'target-up' }] },
      },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
  client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
  await down.close();
  await col.close();
});

/** The spans of the POSTs from `from` on, from the officially decoded ExportTraceServiceRequests. */
function officialSpans(from = 0): DecodedSpan[] {
  const out: DecodedSpan[] = [];
  for (const p of col.posts.slice(from)) {
    assert.ok(p.body, `the official decoder refused a body: ${col.decodeErrors[0]}`);
    for (const rs of p.body.resourceSpans) {
      assert.deepEqual(attributeMap(rs.resource), { 'service.name': 'aisix-dp' });
      for (const ss of rs.scopeSpans) assert.equal(ss.scope.name, 'aisix-gateway');
    }
    out.push(...decodedSpans(p.body));
  }
  return out;
}

const attr = (s: DecodedSpan, key: string) => attributeMap(s)[key];

/** The value kind an attribute was sent as (`intValue`, `stringValue`, `arrayValue`...). */
const kindOf = (s: DecodedSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : Object.keys(v)[0];
};

async function chat(model: string): Promise<string> {
  const { response } = await client.chat.completions
    .create({ model, messages: [{ role: 'user', content: PROMPT }] })
    .withResponse();
  return response.headers.get('x-aisix-request-id') as string;
}

async function spansOf(id: string, n: number, from = 0): Promise<DecodedSpan[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const mine = officialSpans(from).filter((s) => attr(s, 'aisix.request_id') === id);
    if (mine.length >= n) return mine;
    assert.ok(Date.now() < deadline, `only ${mine.length} spans for ${id}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('added live: a fail-over is one request span with one child span per attempt; 5xx retried', async () => {
  col.respond(503, 200);
  apply({
    e1: {
      name: 'collector',
      kind: 'otlp_http',
      endpoint: col.url,
      headers: { 'x-collector-auth': 'tok' },
      content_mode: 'metadata_only',
    },
  });
  const t0 = Date.now();
  const id = await chat('grp');
  const t1 = Date.now();
  // The first POST is answered 503, the same batch comes again and is accepted.
  const spans = await spansOf(id, 3, 1);
  assert.equal(col.posts[1]?.raw, col.posts[0]?.raw);
  assert.equal(spans.length, 3);
  const server = spans.find((s) => s.kind === 2);
  const attempts = spans
    .filter((s) => s.kind === 3)
    .sort((a, b) => Number(attr(a, 'aisix.attempt_index')) - Number(attr(b, 'aisix.attempt_index')));
  assert.ok(server);
  assert.equal(server.name, 'POST /v1/chat/completions');
  assert.equal(server.parentSpanId, undefined);
  // Ids as decoded from the protobuf bytes: the request id is the trace id, span ids are distinct.
  assert.equal(server.traceId, id.replaceAll('-', ''));
  assert.equal(new Set(spans.map((s) => s.spanId)).size, 3);
  for (const s of spans) assert.match(s.spanId, /^[0-9a-f]{16}$/);
  assert.equal(attr(server, 'aisix.request_id'), id);
  assert.equal(attr(server, 'aisix.api_key_id'), 'k1');
  assert.equal(attr(server, 'gen_ai.request.model'), 'grp');
  assert.equal(attr(server, 'http.response.status_code'), 200);
  assert.equal(server.status.code, 1);
  // The request's own times (spans are rendered later, in a batch): inside the call, at ms
  // resolution (the end is the event's whole millisecond).
  const ms = (nano: string) => Number(BigInt(nano) / 1_000_000n);
  assert.ok(ms(server.startTimeUnixNano) >= t0 - 1, `start ${server.startTimeUnixNano} before ${t0}`);
  assert.ok(ms(server.endTimeUnixNano) <= t1, `end ${server.endTimeUnixNano} after ${t1}`);
  assert.ok(BigInt(server.endTimeUnixNano) >= BigInt(server.startTimeUnixNano));
  assert.equal(attempts.length, 2);
  for (const a of attempts) {
    assert.equal(a.traceId, server.traceId);
    assert.equal(a.parentSpanId, server.spanId);
    assert.equal(a.name, 'chat.completions');
    assert.equal(attr(a, 'gen_ai.system'), 'aisix');
    assert.equal(attr(a, 'gen_ai.operation.name'), 'chat');
    assert.equal(attr(a, 'gen_ai.request.model'), 'grp');
    assert.equal(attr(a, 'aisix.exporter_name'), 'collector');
    assert.equal(attr(a, 'aisix.request_id'), id);
    assert.ok(BigInt(a.endTimeUnixNano) >= BigInt(a.startTimeUnixNano));
    // GenAI semantic conventions: token counts and the status code are ints, finish reasons a string[].
    for (const k of ['gen_ai.usage.input_tokens', 'gen_ai.usage.output_tokens', 'http.response.status_code'])
      assert.equal(kindOf(a, k), 'intValue', k);
  }
  const [failed, served] = attempts as [DecodedSpan, DecodedSpan];
  assert.equal(attr(failed, 'http.response.status_code'), 503);
  assert.equal(attr(failed, 'aisix.attempt_kind'), 'initial');
  assert.equal(attr(failed, 'gen_ai.usage.input_tokens'), 0);
  assert.equal(failed.status.code, 2);
  assert.equal(attr(served, 'aisix.attempt_kind'), 'fallback');
  assert.equal(attr(served, 'gen_ai.response.model'), 'u');
  assert.equal(attr(served, 'gen_ai.usage.input_tokens'), 9);
  assert.equal(attr(served, 'gen_ai.usage.output_tokens'), 3);
  assert.deepEqual(attr(served, 'gen_ai.response.finish_reasons'), ['stop']);
  assert.equal(kindOf(served, 'gen_ai.response.finish_reasons'), 'arrayValue');
  assert.equal(served.status.code, 1);
  assert.equal(col.posts[0]?.headers['x-collector-auth'], 'tok');
  // metadata_only: neither the prompt nor a caller or provider key is in any decoded string
  // (names, attribute keys and values, status messages, resource, scope), nor in the raw bytes.
  for (const p of col.posts) {
    assert.ok(p.body);
    const strings = decodedStrings(p.body).join('\n');
    assert.ok(strings.includes(id), 'the walk sees the attribute values');
    for (const secret of [PROMPT, CALLER_KEY, sha256(CALLER_KEY), 'sk-upstream-secret', DOWN_PROVIDER_KEY]) {
      assert.ok(!strings.includes(secret), `a decoded span carries ${secret}`);
      assert.ok(!p.raw.includes(secret), `the body carries ${secret}`);
    }
  }
});

test('consecutive requests that differ in caller, client or model each carry their own', async () => {
  // The attempt span's caller, model and client attributes are rendered once and reused while
  // they repeat: requests back to back (rendered in one batch) that change one of them each.
  col.reset();
  col.respond(200);
  apply({ e1: { name: 'collector', kind: 'otlp_http', endpoint: col.url } });
  const K1 = { key: CALLER_KEY, keyId: 'k1' };
  const K4 = { key: 'sk-all', keyId: 'k4' };
  const MINI = { model: 'gpt-4o-mini', modelId: 'm1', upstream: 'gpt-4o-mini' };
  const UP = { model: 'target-up', modelId: 'tu', upstream: 'u' };
  const calls = [
    { ...K1, ua: 'agent-a', ...MINI },
    { ...K4, ua: 'agent-a', ...MINI },
    { ...K4, ua: 'agent-b', ...MINI },
    { ...K4, ua: 'agent-b', ...UP },
    { ...K1, ua: 'agent-a', ...MINI },
  ];
  const ids: string[] = [];
  for (const c of calls) {
    const r = await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json', 'user-agent': c.ua },
      body: JSON.stringify({ model: c.model, messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    ids.push(r.headers.get('x-aisix-request-id') as string);
  }
  for (const [i, c] of calls.entries()) {
    const spans = await spansOf(ids[i] as string, 2);
    const a = spans.find((s) => s.kind === 3);
    assert.ok(a, `request ${i} has an attempt span`);
    assert.equal(attr(a, 'aisix.api_key_id'), c.keyId, `request ${i}`);
    assert.equal(attr(a, 'aisix.client_user_agent'), c.ua, `request ${i}`);
    assert.equal(attr(a, 'gen_ai.request.model'), c.model, `request ${i}`);
    assert.equal(attr(a, 'aisix.model_id'), c.modelId, `request ${i}`);
    assert.equal(attr(a, 'gen_ai.response.model'), c.upstream, `request ${i}`);
    assert.equal(attr(a, 'aisix.attempt_model'), c.upstream, `request ${i}`);
    assert.equal(attr(a, 'aisix.exporter_name'), 'collector', `request ${i}`);
    assert.equal(attr(a, 'gen_ai.system'), 'aisix', `request ${i}`);
    // Every attribute once.
    const keys = a.attributes.map((x) => x.key);
    assert.equal(new Set(keys).size, keys.length, `request ${i}: ${keys.join(',')}`);
  }
  apply({});
});

test('sample_rate 0 ships nothing; removed, nothing more is shipped', async () => {
  apply({ e1: { name: 'collector', kind: 'otlp_http', endpoint: col.url, sample_rate: 0 } });
  col.reset();
  await chat('gpt-4o-mini');
  apply({});
  await chat('gpt-4o-mini');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(col.posts.length, 0);
});

test('a collector that never answers does not slow requests', async () => {
  col.reset();
  col.respond('hang');
  apply({ e2: { name: 'dead', kind: 'otlp_http', endpoint: col.url } });
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await chat('gpt-4o-mini');
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  assert.ok((times[10] as number) < 250, `p50 ${times[10]} ms with a dead collector`);
  apply({});
});

test('a full exporter queue drops events (counted), the requests are served', async () => {
  col.reset();
  col.respond('hang');
  apply({ e3: { name: 'full', kind: 'otlp_http', endpoint: col.url } });
  const metric = async () => {
    const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
    const l = text
      .split('\n')
      .find((x) => x.startsWith('aisix_usage_event_drops_total{reason="queue_full"}'));
    return l === undefined ? 0 : Number(l.slice(l.lastIndexOf(' ') + 1));
  };
  const before = await metric();
  // Two spans per request: at most 4,096 queued plus one batch (≤ 512) in the hung POST, so of
  // 2,600 requests between 296 (a full first batch) and 552 (none in flight) lose their event.
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
  for (let i = 0; i < 2600; i++) {
    const r = await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
      body,
    });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
  }
  const dropped = (await metric()) - before;
  assert.ok(dropped >= 296 && dropped <= 552, `dropped ${dropped}`);
  apply({});
});

/** The request's SERVER span and, once `children` of them arrived, the spans under it. */
async function requestTree(
  id: string,
  children: number,
): Promise<{ server: DecodedSpan; kids: DecodedSpan[] }> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const all = officialSpans();
    const server = all.find((s) => s.kind === 2 && attr(s, 'aisix.request_id') === id);
    const kids = server ? all.filter((s) => s.parentSpanId === server.spanId) : [];
    if (server && kids.length >= children) {
      for (const k of kids) assert.equal(k.traceId, server.traceId);
      return { server, kids };
    }
    assert.ok(
      Date.now() < deadline,
      `only ${kids.length} children for ${id}: ${JSON.stringify(all.map((s) => [s.name, s.kind, attr(s, 'aisix.request_id'), attr(s, 'http.response.status_code')]))}`,
    );
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('OP-13: the cache lookup and each guardrail evaluation are INTERNAL children of the request span', async () => {
  col.reset();
  revision += 1;
  g.source.set(
    buildSnapshot(
      {
        ...docs,
        observability_exporters: { e1: { name: 'tree', kind: 'otlp_http', endpoint: col.url } },
        cache_policies: { c1: { name: 'traced', applies_to: 'model:gpt-4o-mini', ttl_seconds: 60 } },
        guardrails: {
          gk: {
            name: 'no-codenames',
            kind: 'keyword',
            patterns: [{ kind: 'literal', value: 'nightingale' }],
          },
        },
      } as Docs,
      revision,
    ),
  );
  const byName = (kids: DecodedSpan[]) =>
    kids
      .map(
        (k) =>
          `${k.kind} ${k.name} ${attr(k, 'aisix.guardrail.phase') ?? attr(k, 'aisix.cache.status') ?? ''}`,
      )
      .sort();
  // A miss: the lookup, the input and output scans, the attempt.
  const miss = await requestTree(await chat('gpt-4o-mini'), 4);
  assert.deepEqual(byName(miss.kids), [
    '1 cache traced miss',
    '1 guardrail no-codenames input',
    '1 guardrail no-codenames output',
    '3 chat.completions ',
  ]);
  // A hit: no attempt; the cached answer is still scanned on its way out.
  const hit = await requestTree(await chat('gpt-4o-mini'), 3);
  assert.deepEqual(byName(hit.kids), [
    '1 cache traced hit',
    '1 guardrail no-codenames input',
    '1 guardrail no-codenames output',
  ]);
  const lookup = hit.kids.find((k) => k.name === 'cache traced') as DecodedSpan;
  assert.equal(attr(lookup, 'aisix.cache.policy'), 'traced');
  assert.equal(attr(lookup, 'aisix.cache.layer'), 'exact');
  for (const k of [...miss.kids, ...hit.kids]) {
    assert.ok(BigInt(k.endTimeUnixNano) >= BigInt(k.startTimeUnixNano));
    assert.ok(BigInt(k.startTimeUnixNano) >= BigInt(miss.server.startTimeUnixNano));
    if (k.kind === 1) assert.equal(k.status.code, 1);
  }
  const scan = miss.kids.find((k) => attr(k, 'aisix.guardrail.phase') === 'input') as DecodedSpan;
  assert.equal(attr(scan, 'aisix.guardrail.kind'), 'keyword');
  assert.equal(attr(scan, 'aisix.guardrail.result'), 'pass');
  // A block: the input scan's span is an ERROR; the request span carries the terminal event's
  // error, since no attempt span does.
  const blocked = await client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'about nightingale' }] })
    .withResponse()
    .catch((e: unknown) => e);
  assert.ok(blocked instanceof OpenAI.APIError && blocked.status === 422);
  const b = await requestTree(blocked.headers?.get('x-aisix-request-id') as string, 1);
  const blockSpan = b.kids.find((k) => attr(k, 'aisix.guardrail.result') === 'block');
  assert.ok(blockSpan);
  assert.equal(blockSpan.status.code, 2);
  assert.equal(attr(b.server, 'http.response.status_code'), 422);
  assert.equal(attr(b.server, 'aisix.error_class'), 'content_filter');
  assert.equal(kindOf(b.server, 'aisix.downstream_latency_ms'), 'intValue');
  assert.equal(b.server.status.code, 2);
  apply({});
});

test('the request span reports the status the caller got, not the failed attempt upstream status', async () => {
  col.reset();
  apply({ e1: { name: 'status', kind: 'otlp_http', endpoint: col.url } });
  const all = new OpenAI({ apiKey: 'sk-all', baseURL: `${g.base}/v1`, maxRetries: 0 });
  const err = await all.chat.completions
    .create({ model: 'target-down', messages: [{ role: 'user', content: PROMPT }] })
    .withResponse()
    .catch((e: unknown) => e);
  assert.ok(err instanceof OpenAI.APIError);
  const t = await requestTree(err.headers?.get('x-aisix-request-id') as string, 1);
  assert.equal(attr(t.server, 'http.response.status_code'), err.status);
  const attempt = t.kids.find((k) => k.kind === 3) as DecodedSpan;
  assert.equal(attr(attempt, 'http.response.status_code'), 503);
  assert.equal(t.server.status.code, 2);
  apply({});
});

test('spans a collector refuses are counted as lost usage events (delivery_failed), in events', async () => {
  const lost = async () => {
    const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('aisix_usage_event_drops_total{reason="delivery_failed"} '));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  col.reset();
  col.respond(400);
  apply({ e1: { name: 'refused', kind: 'otlp_http', endpoint: col.url } });
  const before = await lost();
  // Two requests, one attempt each: two events, four spans; refused (no retry on a 4xx).
  await chat('gpt-4o-mini');
  await chat('gpt-4o-mini');
  const deadline = Date.now() + 15_000;
  while ((await lost()) !== before + 2) {
    assert.ok(Date.now() < deadline, `lost ${(await lost()) - before}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(col.posts.length >= 1);
  col.respond(200);
  apply({});
});

test('OTLP retry rule: a 500 is final (not retried, counted as lost); a 503 with Retry-After waits for it', async () => {
  const lost = async () => {
    const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('aisix_usage_event_drops_total{reason="delivery_failed"} '));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  col.reset();
  col.respond(500, 200);
  apply({ e1: { name: 'no-retry', kind: 'otlp_http', endpoint: col.url } });
  const before = await lost();
  await chat('gpt-4o-mini');
  const deadline = Date.now() + 15_000;
  while ((await lost()) !== before + 1) {
    assert.ok(Date.now() < deadline, `lost ${(await lost()) - before}; posts ${col.posts.length}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(col.posts.length, 1, 'the batch answered 500 is not sent again');

  col.reset();
  col.respond({ status: 503, headers: { 'retry-after': '2' } }, 200);
  apply({ e1: { name: 'retry-after', kind: 'otlp_http', endpoint: col.url } });
  const id = await chat('gpt-4o-mini');
  const t0 = Date.now();
  // The second POST (the retry) carries them.
  await spansOf(id, 2, 1);
  const waited = Date.now() - t0;
  assert.equal(col.posts.length, 2);
  // The batch leaves ~1 s after the request (flush interval), then is retried: after ~1.3 s in
  // all with the 250 ms backoff, ~3 s with the 2 s Retry-After.
  assert.ok(waited >= 2000, `retried ~${waited} ms after the request, Retry-After asked 2 s`);
  col.respond(200);
  apply({});
});
