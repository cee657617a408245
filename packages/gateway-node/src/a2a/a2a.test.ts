/**
 * The A2A relay against a local agent over real HTTP (agents-and-jobs §3.4-3.5, §3.8): failure
 * mapping (non-2xx, non-JSON, redirects, broken streams), the SSE relay's event framing and
 * keep-alives, and the usage events of A2A calls. The happy paths with the official SDK are in
 * `e2e/src/a2a-gateway.test.ts`.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import {
  buildSnapshot,
  type Docs,
  type Started,
  sha256,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { BoundedQueue, type UsageSink } from '../usage/bus.js';
import type { UsageEvent } from '../usage/events.js';

interface Seen {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

const KEY = 'sk-a2a-caller';
const seen: Seen[] = [];
let agent: Server;
let agentUrl = '';
let g: Started;
const events = new BoundedQueue<UsageEvent>(1000);
const sink: UsageSink = {
  name: 'test',
  offer(list) {
    for (const e of list) events.push(e);
    return 0;
  },
};

const sse = (res: ServerResponse) =>
  res.writeHead(200, { 'content-type': 'text/event-stream' }).flushHeaders();

/** Valid JSON nested far deeper than anything can be re-serialized. */
const DEEP = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

/** Behaviour per path of the agent. */
const ROUTES: Record<string, (res: ServerResponse) => void> = {
  '/ok': (res) =>
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end('{"jsonrpc":"2.0","id":1,"result":{ "kind" : "x"}}'),
  '/500': (res) =>
    res.writeHead(500, { 'content-type': 'application/json' }).end('{"internal":"agent-private-detail"}'),
  '/html': (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>'),
  '/redirect': (res) => res.writeHead(302, { location: '/ok' }).end(),
  '/json-for-stream': (res) =>
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end('{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"nope"}}'),
  '/stream': (res) => {
    sse(res);
    res.write(': comment\nevent: update\nid: 1\ndata: {"n": 1}\n\n');
    setTimeout(() => res.end('data: {"n":\ndata: 2}\r\n\r\n'), 50);
  },
  '/stream-junk': (res) => {
    sse(res);
    res.write('data: {"n":1}\n\n');
    res.end('data: not json\n\n');
  },
  '/stream-cut': (res) => {
    sse(res);
    res.write('data: {"n":1}\n\n');
    setTimeout(() => res.socket?.destroy(), 50);
  },
  '/stream-bad-utf8': (res) => {
    sse(res);
    res.end(Buffer.concat([Buffer.from('data: "'), Buffer.from([0xff, 0xfe]), Buffer.from('"\n\n')]));
  },
  '/stream-late-head': (res) => {
    setTimeout(() => sse(res), 1000);
    setTimeout(() => res.end('data: {}\n\n'), 1100);
  },
  '/deep': (res) =>
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(`{"jsonrpc":"2.0","id":1,"result":${DEEP}}`),
  '/stream-deep': (res) => {
    sse(res);
    res.write('data: {"n":1}\n\n');
    res.end(`data: ${DEEP}\n\n`);
  },
  '/stream-quiet': (res) => {
    sse(res);
    setTimeout(() => res.end('data: {"late":true}\n\n'), 1300);
  },
};

function docs(): Docs {
  const agents: Record<string, Record<string, unknown>> = {};
  for (const path of Object.keys(ROUTES)) {
    const name = path.slice(1);
    agents[name] = { name, url: `${agentUrl}${path}`, auth_type: 'api_key', secret: 'agent-secret' };
  }
  // A short deadline: it bounds a stream's opening, never the open stream.
  for (const n of ['stream-late-head', 'stream-quiet'])
    (agents[n] as Record<string, unknown>).timeout_ms = 300;
  agents.ftp = { name: 'ftp', url: 'ftp://files.internal/rpc' };
  agents.old = { name: 'old', url: `${agentUrl}/stream`, protocol_version: '0.3' };
  return {
    a2a_agents: agents,
    api_keys: {
      k: { key_hash: sha256(KEY), allowed_models: [], allowed_agents: ['*'] },
      n: { key_hash: sha256('sk-none'), allowed_models: [] },
      r: {
        key_hash: sha256('sk-limited'),
        allowed_models: [],
        allowed_agents: ['*'],
        rate_limit: { rpm: 0 },
      },
      c: {
        key_hash: sha256('sk-one'),
        allowed_models: [],
        allowed_agents: ['*'],
        rate_limit: { concurrency: 1 },
      },
    },
  } as Docs;
}

before(async () => {
  agent = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      (ROUTES[req.url ?? ''] ?? ((r: ServerResponse) => r.writeHead(404).end()))(res);
    });
  });
  await new Promise<void>((r) => agent.listen(0, '127.0.0.1', r));
  agentUrl = `http://127.0.0.1:${(agent.address() as AddressInfo).port}`;
  g = await startTestGateway(
    buildSnapshot(docs()),
    testConfig({ downstream: { sse_keepalive_interval_secs: 1 } }),
  );
  g.gw.usage.attach(sink);
});

after(async () => {
  await g.gw.close();
  agent.closeAllConnections();
  agent.close();
});

async function post(name: string, body: unknown, key = KEY) {
  const res = await fetch(`${g.base}/a2a/${name}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    text: await res.text(),
    id: res.headers.get('x-aisix-request-id'),
  };
}

async function eventsOf(id: string | null): Promise<UsageEvent[]> {
  await new Promise((r) => setTimeout(r, 30));
  return events.take(1000).filter((e) => e.request_id === id);
}

const rpc = (method: string, id: unknown = 1) => ({ jsonrpc: '2.0', id, method, params: { x: 1 } });

test('unary: the agent JSON is relayed verbatim; the body goes up re-serialized with A2A-Version and the agent credential', async () => {
  const r = await post('ok', '{ "jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "t"} }');
  assert.equal(r.status, 200);
  assert.equal(r.text, '{"jsonrpc":"2.0","id":1,"result":{ "kind" : "x"}}');
  const up = seen.at(-1);
  assert.equal(up?.body, '{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"t"}}');
  assert.equal(up?.headers['a2a-version'], '1.0');
  assert.equal(up?.headers['x-api-key'], 'agent-secret');
  assert.equal(up?.headers.authorization, undefined, 'the caller credential never goes upstream');
  const [e] = await eventsOf(r.id);
  assert.equal(e?.inbound_protocol, 'a2a');
  assert.equal(e?.a2a_agent_name, 'ok');
  assert.equal(e?.a2a_method, 'GetTask');
  assert.equal(e?.status_code, 200);
  assert.equal(e?.prompt_tokens, 0);
  assert.equal(e?.endpoint, '/a2a');
});

test('unary failures: 502 JSON-RPC -32000 with the id echoed; the agent body never relayed; redirects not followed', async () => {
  const cases: [string, RegExp][] = [
    ['500', /^upstream A2A request failed: upstream returned HTTP 500$/],
    ['html', /^upstream A2A request failed: the response is not JSON$/],
    ['redirect', /^upstream A2A request failed: upstream returned HTTP 302$/],
  ];
  for (const [name, message] of cases) {
    const before = seen.length;
    const r = await post(name, rpc('SendMessage', 'abc'));
    assert.equal(r.status, 502, name);
    const body = JSON.parse(r.text);
    assert.equal(body.id, 'abc');
    assert.equal(body.error.code, -32000);
    assert.match(body.error.message, message);
    assert.ok(!r.text.includes('agent-private-detail'));
    assert.equal(seen.length, before + 1, `${name}: one upstream request (no redirect followed)`);
    const [e] = await eventsOf(r.id);
    assert.equal(e?.status_code, 502);
  }
  const noId = await post('500', { jsonrpc: '2.0', method: 'SendMessage' });
  assert.equal(JSON.parse(noId.text).id, null);
});

test('stream: events relayed as compact JSON, one per upstream event (multi-line data joined)', async () => {
  const r = await post('stream', rpc('SendStreamingMessage'));
  assert.equal(r.status, 200);
  assert.match(String(r.type), /^text\/event-stream/);
  assert.equal(r.text, 'data: {"n":1}\n\ndata: {"n":2}\n\n');
  assert.equal(seen.at(-1)?.headers.accept, 'text/event-stream');
  const [e] = await eventsOf(r.id);
  assert.equal(e?.status_code, 200);
  assert.equal(e?.a2a_method, 'SendStreamingMessage');
});

test('stream: a 0.3 agent streams on message/stream; its pin goes upstream', async () => {
  const r = await post('old', rpc('message/stream'));
  assert.equal(r.text, 'data: {"n":1}\n\ndata: {"n":2}\n\n');
  assert.equal(seen.at(-1)?.headers['a2a-version'], '0.3');
  assert.equal(seen.at(-1)?.headers['x-api-key'], undefined, 'auth_type none sends no credential');
});

test('stream: a JSON answer becomes the single event; faults end the stream with an error event and a 502 usage event', async () => {
  const j = await post('json-for-stream', rpc('SubscribeToTask'));
  assert.equal(j.status, 200);
  assert.equal(j.text, 'data: {"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"nope"}}\n\n');
  const faults: [string, RegExp][] = [
    ['stream-junk', /an upstream event is not JSON/],
    ['stream-cut', /the upstream stream broke off/],
    ['stream-bad-utf8', /not valid UTF-8/],
  ];
  for (const [name, why] of faults) {
    const r = await post(name, rpc('SendStreamingMessage', 'sid'));
    assert.equal(r.status, 200, name);
    const frames = r.text.split('\n\n').filter((f) => f !== '');
    const last = JSON.parse(String(frames.at(-1)).slice('data: '.length));
    assert.equal(last.id, 'sid');
    assert.equal(last.error.code, -32000);
    assert.match(last.error.message, why);
    if (name !== 'stream-bad-utf8')
      assert.equal(frames[0], 'data: {"n":1}', `${name}: events before the fault were relayed`);
    const [e] = await eventsOf(r.id);
    assert.equal(e?.status_code, 502, name);
  }
  const shut = await post('500', rpc('SendStreamingMessage'));
  assert.equal(shut.status, 502, 'a failed opening is the unary 502, no stream');
});

test('stream: keep-alive comments fill a silence; timeout_ms bounds only the opening', async () => {
  const r = await post('stream-quiet', rpc('SendStreamingMessage'));
  assert.equal(r.text, ':\n\ndata: {"late":true}\n\n', 'served after 1.3 s of silence with timeout_ms 300');
  const late = await post('stream-late-head', rpc('SendStreamingMessage', 4));
  assert.equal(late.status, 502);
  assert.match(
    JSON.parse(late.text).error.message,
    /^failed to reach upstream A2A agent: timed out after 300 ms$/,
  );
});

test('stream: the quota reservation is held until the stream ends or the caller leaves (concurrency)', async () => {
  const open = post('stream-quiet', rpc('SendStreamingMessage'), 'sk-one');
  await new Promise((r) => setTimeout(r, 300));
  const second = await post('ok', rpc('GetTask'), 'sk-one');
  assert.equal(second.status, 429, 'the open stream holds the only slot');
  assert.equal((await open).status, 200);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await post('ok', rpc('GetTask'), 'sk-one')).status, 200, 'released at the end of the stream');
  const ac = new AbortController();
  const left = await fetch(`${g.base}/a2a/stream-quiet`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-one', 'content-type': 'application/json' },
    body: JSON.stringify(rpc('SendStreamingMessage')),
    signal: ac.signal,
  });
  assert.equal(left.status, 200);
  ac.abort();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await post('ok', rpc('GetTask'), 'sk-one')).status, 200, 'released when the caller leaves');
});

test('gates: no usage event for refusals before the body; invalid JSON 400; quota 429 with its usage event', async () => {
  const denied = await post('ok', rpc('GetTask'), 'sk-none');
  assert.equal(denied.status, 403);
  assert.equal(denied.type, 'text/plain; charset=utf-8');
  const bad = await post('ok', '{"jsonrpc":');
  assert.equal(bad.status, 400);
  assert.equal(bad.text, 'invalid JSON-RPC body');
  assert.deepEqual(await eventsOf(denied.id), []);
  assert.deepEqual(await eventsOf(bad.id), []);
  const scalar = await post('ok', '42');
  assert.equal(scalar.status, 200, 'any JSON value is relayed');
  const limited = await post('ok', rpc('GetTask'), 'sk-limited');
  assert.equal(limited.status, 429);
  assert.equal(JSON.parse(limited.text).error.type, 'rate_limit_exceeded');
  const [e] = await eventsOf(limited.id);
  assert.equal(e?.status_code, 429);
  const wrong = await fetch(`${g.base}/a2a/ok`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${KEY}` },
  });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get('allow'), 'POST');
  const ftp = await post('ftp', rpc('GetTask', 'f'));
  assert.equal(ftp.status, 502);
  assert.deepEqual(JSON.parse(ftp.text), {
    jsonrpc: '2.0',
    id: 'f',
    error: { code: -32000, message: 'upstream A2A request failed: the agent URL is not an http(s) URL' },
  });
  const nested = await fetch(`${g.base}/a2a/ok/extra`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}` },
  });
  assert.equal(nested.status, 404);
});

test('live: an agent removed from the snapshot is unknown on the next request', async () => {
  const d = docs() as Docs & { a2a_agents: Record<string, unknown> };
  delete d.a2a_agents.ok;
  g.source.set(buildSnapshot(d, 2));
  const r = await post('ok', rpc('GetTask'));
  assert.equal(r.status, 404);
  assert.equal(r.text, 'unknown A2A agent: ok');
  g.source.set(buildSnapshot(docs(), 3));
  assert.equal((await post('ok', rpc('GetTask'))).status, 200);
});

test('a body nested deeper than 128 levels is the invalid-JSON 400, never a 500; the agent is not called', async () => {
  const before = seen.length;
  const deep = await post(
    'ok',
    `{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`,
  );
  assert.equal(deep.status, 400, deep.text);
  assert.equal(deep.text, 'invalid JSON-RPC body');
  assert.equal(seen.length, before);
  const atLimit = await post(
    'ok',
    `{"jsonrpc":"2.0","id":1,"method":"GetTask","params":${'['.repeat(127)}${']'.repeat(127)}}`,
  );
  assert.equal(atLimit.status, 200, atLimit.text);
});

test('an agent answer nested too deep to re-encode is the 502 JSON-RPC error (stream) or a final error event, never a reset', async () => {
  const one = await post('deep', rpc('SendStreamingMessage', 'd1'));
  assert.equal(one.status, 502, one.text);
  const body = JSON.parse(one.text);
  assert.equal(body.id, 'd1');
  assert.equal(body.error.code, -32000);
  assert.match(body.error.message, /^upstream A2A request failed: /);
  const [e] = await eventsOf(one.id);
  assert.equal(e?.status_code, 502);
  const r = await post('stream-deep', rpc('SendStreamingMessage', 'd2'));
  assert.equal(r.status, 200);
  const frames = r.text.split('\n\n').filter((f) => f !== '');
  assert.equal(frames[0], 'data: {"n":1}');
  const last = JSON.parse(String(frames.at(-1)).slice('data: '.length));
  assert.equal(last.id, 'd2');
  assert.match(last.error.message, /^upstream A2A request failed: an upstream event is nested/);
  const unary = await post('deep', rpc('GetTask'));
  assert.equal(unary.status, 200, 'a unary answer is relayed verbatim, never re-encoded');
});
