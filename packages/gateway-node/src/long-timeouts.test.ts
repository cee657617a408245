/**
 * Durations longer than a Node timer can hold (2^31-1 ms, about 24.8 days). The config keys are
 * u64 (control-plane §1.9, §1.2 `shutdown`) and a model's `timeout` is a u64 too: a very long
 * deadline means "practically none", never "already expired". Node turns an oversized timer
 * into a 1 ms one (TimeoutOverflowWarning), which failed every call at once and made the
 * stream timers spin. The resources' own u64 deadlines (guardrails', MCP servers' and A2A
 * agents' `timeout_ms`...) have no upper bound either and mean the same.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Docs,
  sha256,
  standardDocs,
  startTestGateway,
  testConfig,
} from './test/fixtures.js';
import { connectMcp, textOf } from './test/mcp-client.js';
import { startMockMcp } from './test/mock-mcp.js';
import {
  chatJson,
  chatSse,
  json,
  type MockUpstream,
  sleep,
  startMockUpstream,
} from './test/mock-upstream.js';

/** 3e9 ms ≈ 35 days, past the 32-bit timer range. */
const LONG_MS = 3_000_000_000;
const LONG_SECS = 3_000_000;

let up: MockUpstream;
const overflows: string[] = [];
const onWarning = (w: Error): void => {
  if (w.name === 'TimeoutOverflowWarning') overflows.push(w.message);
};

before(async () => {
  up = await startMockUpstream();
  process.on('warning', onWarning);
});

after(async () => {
  process.off('warning', onWarning);
  await up.close();
});

const long = testConfig({
  upstream: { retries: 0, timeout_ms: LONG_MS, stream_timeout_ms: LONG_MS },
  downstream: { sse_keepalive_interval_secs: LONG_SECS, idle_timeout_secs: LONG_SECS },
  shutdown: { min_drain_secs: 0, max_drain_secs: LONG_SECS },
});

test('upstream.timeout_ms / stream_timeout_ms past the timer range: slow calls are served, not timed out', async () => {
  const docs = standardDocs(up.url, {
    models: {
      lm: {
        display_name: 'long-model',
        provider: 'openai',
        model_name: 'l',
        provider_key_id: 'pk1',
        timeout: LONG_MS,
      },
    },
    api_keys: {},
  });
  const g = await startTestGateway(buildSnapshot(docs), long);
  const client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  try {
    overflows.length = 0;
    const slow = chatJson('slow but fine');
    up.handle(async (req, res) => {
      await sleep(150);
      slow(req, res);
    });
    const r = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(r.choices[0]?.message.content, 'slow but fine');

    // The same through a model's own `timeout` (the resource-level deadline).
    const allowed = new OpenAI({ apiKey: 'sk-all', baseURL: `${g.base}/v1`, maxRetries: 0 });
    const m = await allowed.chat.completions.create({
      model: 'long-model',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(m.choices[0]?.message.content, 'slow but fine');

    up.handle(chatSse({ words: ['a', 'b', 'c'], firstDelayMs: 100, gapMs: 50 }));
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    assert.equal(text, 'abc');
    assert.deepEqual(overflows, [], 'no timer overflowed the 32-bit range');
  } finally {
    await g.gw.close();
  }
});

test('shutdown.max_drain_secs past the timer range: an in-flight request still completes during the drain', async () => {
  up.handle(chatSse({ words: ['a', 'b', 'c', 'd'], gapMs: 100 }));
  const g = await startTestGateway(buildSnapshot(standardDocs(up.url)), long);
  overflows.length = 0;
  const client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  const drained = g.gw.beginDrain();
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  assert.equal(text, 'abcd', 'the stream was not cut by the drain deadline');
  await drained;
  assert.deepEqual(overflows, [], 'no timer overflowed the 32-bit range');
});

test("a remote guardrail's timeout_ms past the timer range: a slow vendor is waited for, not timed out", async () => {
  // fail_open false: a vendor timeout would refuse the request with 422 (control-plane §3.7).
  const docs = {
    ...standardDocs(up.url),
    guardrails: {
      g1: {
        name: 'mod',
        kind: 'openai_moderation',
        api_key: 'sk-mod',
        endpoint: `${up.url}/v1`,
        timeout_ms: LONG_MS,
        fail_open: false,
      },
    },
  } as Docs;
  const answer = chatJson('screened');
  up.handle(async (req, res) => {
    if (req.url !== '/v1/moderations') return answer(req, res);
    await sleep(100);
    json(res, 200, { id: 'modr-1', model: 'omni-moderation-latest', results: [{ flagged: false }] });
  });
  const g = await startTestGateway(buildSnapshot(docs), long);
  overflows.length = 0;
  try {
    const client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
    const r = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(r.choices[0]?.message.content, 'screened');
    assert.ok(
      up.requests.some((q) => q.url === '/v1/moderations'),
      'the vendor was asked',
    );
    assert.deepEqual(overflows, [], 'no timer overflowed the 32-bit range');
  } finally {
    await g.gw.close();
  }
});

test("an A2A agent's timeout_ms past the timer range: a slow agent is relayed, not timed out", async () => {
  const docs = {
    a2a_agents: { a1: { name: 'slow', url: `${up.url}/agent`, timeout_ms: LONG_MS } },
    api_keys: { k: { key_hash: sha256('sk-agents'), allowed_models: [], allowed_agents: ['*'] } },
  } as Docs;
  up.handle(async (_req, res) => {
    await sleep(100);
    json(res, 200, { jsonrpc: '2.0', id: 1, result: { kind: 'task', id: 't1' } });
  });
  const g = await startTestGateway(buildSnapshot(docs), long);
  overflows.length = 0;
  try {
    const res = await fetch(`${g.base}/a2a/slow`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-agents', 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'GetTask', params: { id: 't1' } }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.deepEqual(JSON.parse(text), { jsonrpc: '2.0', id: 1, result: { kind: 'task', id: 't1' } });
    assert.deepEqual(overflows, [], 'no timer overflowed the 32-bit range');
  } finally {
    await g.gw.close();
  }
});

test("an MCP server's timeout_ms past the timer range: tools of mcp and openapi servers are served", async () => {
  const mcp = await startMockMcp('far');
  const docs = {
    mcp_servers: {
      s1: { name: 'far', url: mcp.url, timeout_ms: LONG_MS },
      s2: {
        name: 'api',
        type: 'openapi',
        url: `${up.url}/api/`,
        timeout_ms: LONG_MS,
        spec: {
          openapi: '3.0.3',
          info: { title: 'api', version: '1' },
          paths: { '/ping': { get: { operationId: 'ping' } } },
        },
      },
    },
    api_keys: { k: { key_hash: sha256('sk-tools'), allowed_models: [], allowed_tools: ['*'] } },
  } as Docs;
  up.handle(async (_req, res) => {
    await sleep(100);
    json(res, 200, { pong: true });
  });
  const g = await startTestGateway(buildSnapshot(docs), long);
  overflows.length = 0;
  const c = await connectMcp(`${g.base}/mcp`, 'sk-tools', 'long-timeouts');
  try {
    const names = (await c.listTools()).tools.map((t) => t.name).sort();
    assert.ok(names.includes('far__echo') && names.includes('api__ping'), names.join());
    const echoed = await c.callTool({ name: 'far__echo', arguments: { text: 'x' } });
    assert.equal(echoed.isError ?? false, false, textOf(echoed));
    assert.equal(textOf(echoed), 'far:echo:x');
    const ping = await c.callTool({ name: 'api__ping', arguments: {} });
    assert.equal(ping.isError ?? false, false, textOf(ping));
    assert.match(textOf(ping), /pong/);
    assert.deepEqual(overflows, [], 'no timer overflowed the 32-bit range');
  } finally {
    await c.close();
    await g.gw.close();
    await mcp.close();
  }
});
