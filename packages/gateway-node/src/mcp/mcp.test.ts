import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  buildSnapshot,
  type Docs,
  type Started,
  sha256,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { connectMcp, textOf } from '../test/mcp-client.js';
import { type MockMcp, startMockMcp } from '../test/mock-mcp.js';

interface McpDocs extends Docs {
  readonly mcp_servers?: Record<string, Record<string, unknown>>;
  readonly mcp_policies?: Record<string, Record<string, unknown>>;
}

let alpha: MockMcp;
let beta: MockMcp;
let g: Started;

const key = (plain: string, extra: Record<string, unknown> = {}) => ({
  key_hash: sha256(plain),
  allowed_models: [],
  ...extra,
});

function docs(extra: McpDocs = {}): McpDocs {
  return {
    mcp_servers: {
      s1: { name: 'alpha', url: alpha.url },
      s2: { name: 'beta', url: beta.url, auth_type: 'bearer', secret: 'beta-secret' },
      s3: { name: 'gone', url: 'http://127.0.0.1:9/mcp', enabled: false },
      ...extra.mcp_servers,
    },
    mcp_policies: extra.mcp_policies ?? {},
    api_keys: {
      all: key('sk-all', { allowed_tools: ['*'] }),
      none: key('sk-none'),
      alphaonly: key('sk-alpha', { allowed_tools: ['alpha__*'] }),
      ...extra.api_keys,
    },
  };
}

const connect = (token: string, path = '/mcp'): Promise<Client> => connectMcp(g.base + path, token, 'e2e');

const names = async (c: Client) => (await c.listTools()).tools.map((t) => t.name).sort();
async function rpcError(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code: number; message: string };
  }
  assert.fail('expected a JSON-RPC error');
}

before(async () => {
  alpha = await startMockMcp('alpha');
  beta = await startMockMcp('beta');
  beta.authorize = (h) => h.authorization === 'Bearer beta-secret';
  g = await startTestGateway(
    buildSnapshot(docs()),
    testConfig({ proxy: { addr: '127.0.0.1:0', request_body_limit_bytes: 64 * 1024 } }),
  );
});

after(async () => {
  await g.gw.close();
  await alpha.close();
  await beta.close();
});

test('aggregated: initialize, list across two servers as <server>__<tool>, calls routed by prefix', async () => {
  const c = await connect('sk-all');
  assert.equal(c.getServerVersion()?.name, 'aisix-mcp-gateway');
  assert.match(c.getInstructions() ?? '', /<server>__<tool>/);
  const tools = (await c.listTools()).tools;
  assert.deepEqual(tools.map((t) => t.name).sort(), [
    'alpha__echo',
    'alpha__reverse',
    'beta__echo',
    'beta__reverse',
  ]);
  const echo = tools.find((t) => t.name === 'alpha__echo');
  assert.equal(echo?.description, 'echoes text');
  assert.deepEqual(echo?.inputSchema.required, ['text']);
  assert.equal((echo as { title?: string }).title, undefined, 'only name, description, inputSchema survive');
  assert.equal(textOf(await c.callTool({ name: 'alpha__echo', arguments: { text: 'hi' } })), 'alpha:echo:hi');
  assert.equal(textOf(await c.callTool({ name: 'beta__reverse', arguments: { text: 'abc' } })), 'beta:cba');
  // The bare name reached beta with the gateway-held bearer, never the caller's key.
  assert.deepEqual(beta.calls.at(-1), { tool: 'reverse', args: { text: 'abc' } });
  for (const h of [...alpha.headers, ...beta.headers]) assert.doesNotMatch(String(h.authorization), /sk-all/);
  assert.ok(beta.headers.every((h) => h.authorization === 'Bearer beta-secret'));
  assert.equal(alpha.headers.at(-1)?.authorization, undefined);
  await c.close();
});

test('aggregated: JSON-RPC errors of the catalogue', async () => {
  const c = await connect('sk-all');
  let e = await rpcError(c.callTool({ name: 'echo', arguments: {} }));
  assert.equal(e.code, -32602);
  assert.match(e.message, /tool name 'echo' is missing a 'server__tool' prefix/);
  e = await rpcError(c.callTool({ name: 'ghost__echo', arguments: {} }));
  assert.equal(e.code, -32602);
  assert.match(e.message, /unknown MCP server 'ghost'/);
  e = await rpcError(c.callTool({ name: 'gone__echo', arguments: {} }));
  assert.match(e.message, /unknown MCP server 'gone'/, 'a disabled server is not an upstream');
  await c.close();
  const a = await connect('sk-alpha');
  assert.deepEqual(await names(a), ['alpha__echo', 'alpha__reverse']);
  e = await rpcError(a.callTool({ name: 'beta__echo', arguments: { text: 'x' } }));
  assert.equal(e.code, -32602);
  assert.match(e.message, /tool 'beta__echo' is not available/);
  const n = await connect('sk-none');
  assert.deepEqual(await names(n), [], 'a key without allowed_tools sees nothing');
  await a.close();
  await n.close();
});

async function post(path: string, body: string, headers: Record<string, string> = {}, method = 'POST') {
  return fetch(g.base + path, {
    method,
    headers: {
      authorization: 'Bearer sk-all',
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      ...headers,
    },
    ...(method === 'GET' ? {} : { body }),
  });
}

test('transport: HTTP-level outcomes in the documented order', async () => {
  const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
  let r = await post('/mcp', ping, { authorization: 'Bearer nope' });
  assert.equal(r.status, 401);
  assert.equal(((await r.json()) as { error: { type: string } }).error.type, 'invalid_api_key');
  r = await post('/mcp/nope', ping, { authorization: 'Bearer nope' });
  assert.equal(r.status, 401, 'unauthenticated callers learn nothing about servers');
  r = await post('/mcp/gone', ping);
  assert.equal(r.status, 404);
  assert.equal(await r.text(), 'unknown MCP server: gone');
  r = await post('/mcp', '', {}, 'GET');
  assert.equal(r.status, 405);
  assert.equal(r.headers.get('allow'), 'POST');
  const calls = alpha.calls.length;
  const huge = JSON.stringify({
    jsonrpc: '2.0',
    id: 3,
    method: 'tools/call',
    params: { name: 'alpha__echo', arguments: { text: 'x'.repeat(100_000) } },
  });
  r = await post('/mcp', huge);
  assert.equal(r.status, 413, 'oversized tool arguments hit the body cap');
  assert.ok(((await r.json()) as { error: { message: string } }).error.message);
  assert.equal(alpha.calls.length, calls, 'nothing reached the upstream');
  r = await post('/mcp', ping, { accept: 'application/json' });
  assert.equal(r.status, 406);
  r = await post('/mcp', ping, { 'content-type': 'text/plain' });
  assert.equal(r.status, 415);
  for (const bad of ['{not json', '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', '{"jsonrpc":"2.0","id":1}']) {
    r = await post('/mcp', bad);
    assert.equal(r.status, 415, bad);
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
  }
  r = await post('/mcp', ping, { 'mcp-protocol-version': '1999-01-01' });
  assert.equal(r.status, 400);
  r = await post(
    '/mcp',
    JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'initialize',
      params: { protocolVersion: '2025-03-26' },
    }),
    { 'mcp-protocol-version': '2025-06-18' },
  );
  assert.equal(r.status, 400);
  assert.equal(((await r.json()) as { error: { code: number } }).error.code, -32600);
  r = await post('/mcp', JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  assert.equal(r.status, 202);
  assert.equal(await r.text(), '');
  r = await post('/mcp/', ping);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { jsonrpc: '2.0', id: 1, result: {} });
  assert.equal(r.headers.get('mcp-session-id'), null, 'stateless: no session id');
  r = await post('/mcp', JSON.stringify({ jsonrpc: '2.0', id: 'x', method: 'sampling/createMessage' }));
  assert.equal(((await r.json()) as { error: { code: number } }).error.code, -32601);
  r = await post(
    '/mcp',
    JSON.stringify({
      jsonrpc: '2.0',
      id: 2,
      method: 'initialize',
      params: { protocolVersion: '2024-11-05' },
    }),
  );
  const init = (await r.json()) as { result: { protocolVersion: string; capabilities: unknown } };
  assert.equal(init.result.protocolVersion, '2025-11-25');
  assert.deepEqual(init.result.capabilities, { tools: {} });
});

test('scoped: bare names, namespaced spelling, foreign prefixes refused, unregistered prefixes verbatim', async () => {
  const a = await connect('sk-all', '/mcp/alpha');
  assert.equal(a.getServerVersion()?.name, 'alpha');
  assert.deepEqual(await names(a), ['echo', 'reverse']);
  assert.equal(textOf(await a.callTool({ name: 'echo', arguments: { text: '1' } })), 'alpha:echo:1');
  assert.equal(textOf(await a.callTool({ name: 'alpha__echo', arguments: { text: '2' } })), 'alpha:echo:2');
  const e = await rpcError(a.callTool({ name: 'beta__echo', arguments: { text: '3' } }));
  assert.match(e.message, /tool 'beta__echo' is not available/);
  const r = await a.callTool({ name: 'ghost__echo', arguments: { text: '4' } });
  assert.equal(alpha.calls.at(-1)?.tool, 'ghost__echo', 'an unregistered prefix is part of the bare name');
  assert.equal(r.isError, true);
  const b = await connect('sk-all', '/mcp/beta');
  assert.equal(textOf(await b.callTool({ name: 'echo', arguments: { text: '5' } })), 'beta:echo:5');
  const only = await connect('sk-alpha', '/mcp/beta');
  assert.deepEqual(await names(only), [], 'the ACL uses the namespaced form on the scoped endpoint too');
  await Promise.all([a.close(), b.close(), only.close()]);
});

test('transport: a message nested deeper than 128 levels is refused like unparseable JSON, never a 500', async () => {
  const calls = alpha.calls.length;
  const deep = (levels: number) =>
    `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"alpha__echo","arguments":{"text":"x","d":${'['.repeat(levels)}${']'.repeat(levels)}}}}`;
  const r = await post('/mcp', deep(20_000));
  assert.equal(r.status, 415, await r.text());
  assert.equal(alpha.calls.length, calls, 'nothing reached the upstream');
  const ok = await post('/mcp', deep(120));
  assert.equal(ok.status, 200, await ok.text());
});

test('transport: media types in Content-Type and Accept are case-insensitive (RFC 9110 §8.3.1)', async () => {
  const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
  for (const headers of [
    { 'content-type': 'Application/JSON' } as Record<string, string>,
    { 'content-type': 'APPLICATION/JSON; Charset=UTF-8' },
    { accept: 'Application/Json, Text/Event-Stream' },
  ]) {
    const r = await post('/mcp', ping, headers);
    assert.equal(r.status, 200, `${JSON.stringify(headers)}: ${await r.clone().text()}`);
    assert.deepEqual(await r.json(), { jsonrpc: '2.0', id: 1, result: {} });
  }
  // Other media types are still refused.
  assert.equal((await post('/mcp', ping, { 'content-type': 'Text/Plain' })).status, 415);
  assert.equal((await post('/mcp', ping, { accept: 'Application/Json' })).status, 406);
});
