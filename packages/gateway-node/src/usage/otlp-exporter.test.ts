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
