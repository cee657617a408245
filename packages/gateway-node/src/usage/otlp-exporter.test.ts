/**
 * The `otlp_http` observability exporter, live from the config store: added, it ships each
 * request as OTLP/HTTP JSON spans (one SERVER span per request, one CLIENT span per upstream
 * attempt under it, GenAI attributes) to a real local collector; a 5xx from the collector is
 * retried; `sample_rate: 0` ships nothing; removed, it ships nothing more. Payloads are read
 * through the official OpenTelemetry OTLP types (`@opentelemetry/otlp-transformer`).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { IKeyValue } from '@opentelemetry/otlp-transformer/build/src/common/internal-types.js';
import type {
  IExportTraceServiceRequest,
  ISpan,
} from '@opentelemetry/otlp-transformer/build/src/trace/internal-types.js';
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Docs,
  type Started,
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
      pkd: { display_name: 'down-key', api_key: 'kd', provider: 'openai', api_base: `${down.url}/v1` },
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

/** The spans of the POSTs from `from` on, read as the official ExportTraceServiceRequest. */
function officialSpans(from = 0): ISpan[] {
  const out: ISpan[] = [];
  for (const p of col.posts.slice(from)) {
    const req = JSON.parse(p.raw) as IExportTraceServiceRequest;
    for (const rs of req.resourceSpans ?? []) {
      const svc = rs.resource?.attributes.find((a) => a.key === 'service.name');
      assert.equal(svc?.value.stringValue, 'aisix-dp');
      for (const ss of rs.scopeSpans) out.push(...(ss.spans ?? []));
    }
  }
  return out;
}

function attr(attrs: IKeyValue[], key: string): string | number | boolean | undefined {
  const v = attrs.find((a) => a.key === key)?.value;
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined && v.stringValue !== null) return v.stringValue;
  if (v.intValue !== undefined && v.intValue !== null) return Number(v.intValue);
  return v.boolValue ?? undefined;
}

async function chat(model: string): Promise<string> {
  const { response } = await client.chat.completions
    .create({ model, messages: [{ role: 'user', content: 'a secret prompt' }] })
    .withResponse();
  return response.headers.get('x-aisix-request-id') as string;
}

async function spansOf(id: string, n: number, from = 0): Promise<ISpan[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const mine = officialSpans(from).filter((s) => attr(s.attributes, 'aisix.request_id') === id);
    if (mine.length >= n) return mine;
    assert.ok(Date.now() < deadline, `only ${mine.length} spans for ${id}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('added live: a fail-over is one request span with one child span per attempt; 5xx retried', async () => {
  col.respond(503, 200);
  apply({
    e1: { name: 'collector', kind: 'otlp_http', endpoint: col.url, headers: { 'x-collector-auth': 'tok' } },
  });
  const id = await chat('grp');
  // The first POST is answered 503, the same batch comes again and is accepted.
  const spans = await spansOf(id, 3, 1);
  assert.equal(col.posts[1]?.raw, col.posts[0]?.raw);
  assert.equal(spans.length, 3);
  const server = spans.find((s) => s.kind === 2);
  const attempts = spans
    .filter((s) => s.kind === 3)
    .sort(
      (a, b) =>
        Number(attr(a.attributes, 'aisix.attempt_index')) - Number(attr(b.attributes, 'aisix.attempt_index')),
    );
  assert.ok(server);
  assert.equal(server.name, 'POST /v1/chat/completions');
  assert.equal(server.parentSpanId, undefined);
  assert.equal(attempts.length, 2);
  for (const a of attempts) {
    assert.equal(a.traceId, server.traceId);
    assert.equal(a.parentSpanId, server.spanId);
    assert.equal(a.name, 'chat.completions');
    assert.equal(attr(a.attributes, 'gen_ai.system'), 'aisix');
    assert.equal(attr(a.attributes, 'gen_ai.operation.name'), 'chat');
    assert.equal(attr(a.attributes, 'gen_ai.request.model'), 'grp');
    assert.equal(attr(a.attributes, 'aisix.exporter_name'), 'collector');
    assert.ok(BigInt(String(a.endTimeUnixNano)) >= BigInt(String(a.startTimeUnixNano)));
  }
  const [failed, served] = attempts as [ISpan, ISpan];
  assert.equal(attr(failed.attributes, 'http.response.status_code'), 503);
  assert.equal(attr(failed.attributes, 'aisix.attempt_kind'), 'initial');
  assert.equal(attr(failed.attributes, 'gen_ai.usage.input_tokens'), 0);
  assert.equal(failed.status.code, 2);
  assert.equal(attr(served.attributes, 'aisix.attempt_kind'), 'fallback');
  assert.equal(attr(served.attributes, 'gen_ai.response.model'), 'u');
  assert.equal(attr(served.attributes, 'gen_ai.usage.input_tokens'), 9);
  assert.equal(attr(served.attributes, 'gen_ai.usage.output_tokens'), 3);
  assert.equal(attr(served.attributes, 'gen_ai.response.finish_reasons'), 'stop');
  assert.equal(served.status.code, 1);
  assert.equal(col.posts[0]?.headers['x-collector-auth'], 'tok');
  // Metadata only: neither the prompt nor a key leaves in any span.
  for (const p of col.posts) {
    assert.ok(!p.raw.includes('a secret prompt'));
    assert.ok(!p.raw.includes(CALLER_KEY));
    assert.ok(!p.raw.includes('sk-upstream-secret'));
  }
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
