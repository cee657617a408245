/**
 * Upstream MCP servers that the SDK-built mock cannot imitate, served as raw JSON-RPC over HTTP:
 * a stateful server (it issues an `Mcp-Session-Id`) whose session teardown never answers, one
 * that never acknowledges `notifications/initialized`, a server whose `tools/list` carries
 * tools of unusual shapes (agents-and-jobs §2.4, §2.8), and upstreams (MCP and OpenAPI) whose
 * answers are larger than the gateway holds (§2.7 step 6).
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import {
  buildSnapshot,
  type Docs,
  type Started,
  sha256,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { connectMcp, failure, textOf } from '../test/mcp-client.js';
import { type RawRequest, type RawUpstream, sendJsonBody, startRawUpstream } from '../test/mock-raw.js';

interface McpDocs extends Docs {
  readonly mcp_servers: Record<string, Record<string, unknown>>;
}

interface Rpc {
  readonly id?: string | number;
  readonly method?: string;
  readonly params?: { readonly name?: string };
}

/** An MCP server speaking raw JSON-RPC: `initialize`, notifications, then `answer` for the rest. */
function rawMcp(
  answer: (m: Rpc, res: ServerResponse) => void,
  session?: string,
  muteNotifications = false,
): (req: RawRequest, res: ServerResponse) => void {
  return (req, res) => {
    if (req.method === 'DELETE') return; // a session teardown that never answers
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST, DELETE' }).end();
      return;
    }
    const m = JSON.parse(req.raw.toString('utf8')) as Rpc;
    if (m.id === undefined) {
      if (!muteNotifications) res.writeHead(202).end();
      return;
    }
    if (m.method === 'initialize') {
      const result = {
        protocolVersion: '2025-06-18',
        capabilities: { tools: {} },
        serverInfo: { name: 'raw', version: '1' },
      };
      sendJsonBody(
        res,
        200,
        { jsonrpc: '2.0', id: m.id, result },
        session ? { 'mcp-session-id': session } : {},
      );
      return;
    }
    answer(m, res);
  };
}

const ok = (m: Rpc, res: ServerResponse, result: unknown) =>
  sendJsonBody(res, 200, { jsonrpc: '2.0', id: m.id, result });

let stateful: RawUpstream;
let mute: RawUpstream;
let shapes: RawUpstream;
let g: Started;

before(async () => {
  stateful = await startRawUpstream(
    rawMcp((m, res) => {
      if (m.method === 'tools/list')
        return ok(m, res, { tools: [{ name: 'echo', inputSchema: { type: 'object' } }] });
      ok(m, res, { content: [{ type: 'text', text: `stateful:${m.params?.name}` }] });
    }, 'sess-1'),
  );
  mute = await startRawUpstream(
    rawMcp(
      (m, res) => {
        if (m.method === 'tools/list') return ok(m, res, { tools: [{ name: 'echo', inputSchema: {} }] });
        ok(m, res, { content: [] });
      },
      undefined,
      true,
    ),
  );
  shapes = await startRawUpstream(
    rawMcp((m, res) => {
      if (m.method === 'tools/list')
        return ok(m, res, {
          tools: [
            { name: 'plain', description: 'a well-formed tool', inputSchema: { type: 'object' } },
            { name: 'no_schema', description: 'no inputSchema at all' },
            { name: 'empty_schema', inputSchema: {} },
            { name: 'string_schema', inputSchema: 'nope' },
            {
              name: 'odd_output',
              inputSchema: { type: 'object' },
              outputSchema: { type: 'object', properties: { a: { type: 'not-a-json-schema-type' } } },
            },
          ],
        });
      ok(m, res, { content: [{ type: 'text', text: `shapes:${m.params?.name}` }] });
    }),
  );
  const docs: McpDocs = {
    mcp_servers: {
      st: { name: 'stateful', url: `${stateful.url}/mcp`, timeout_ms: 1000 },
      sh: { name: 'shapes', url: `${shapes.url}/mcp` },
      mu: { name: 'mute', url: `${mute.url}/mcp`, timeout_ms: 1000 },
      // Deadlines past what a Node timer holds (2^31 - 1 ms); the schema only asks for >= 1.
      pa: { name: 'patient', url: `${shapes.url}/mcp`, timeout_ms: 3_000_000_000 },
      pb: {
        name: 'patient-api',
        type: 'openapi',
        url: shapes.url,
        timeout_ms: 5_000_000_000,
        spec: {
          openapi: '3.0.3',
          paths: {
            '/mcp': { post: { operationId: 'poke', requestBody: { content: { 'application/json': {} } } } },
          },
        },
      },
    },
    api_keys: { all: { key_hash: sha256('sk-all'), allowed_models: [], allowed_tools: ['*'] } },
  };
  g = await startTestGateway(buildSnapshot(docs));
});

after(async () => {
  await g.gw.close();
  await Promise.all([stateful.close(), mute.close(), shapes.close()]);
});

/** Rejects when `p` takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

test('a session teardown (DELETE) that never answers does not hang the caller: bounded by timeout_ms', async () => {
  const c = await connectMcp(`${g.base}/mcp`, 'sk-all', 'raw-test');
  const names = (await within(c.listTools(), 6000)).tools.map((t) => t.name);
  assert.ok(names.includes('stateful__echo'), JSON.stringify(names));
  const r = await within(c.callTool({ name: 'stateful__echo', arguments: {} }), 6000);
  assert.equal(textOf(r), 'stateful:echo');
  assert.ok(
    stateful.requests.some((q) => q.method === 'DELETE' && q.headers['mcp-session-id'] === 'sess-1'),
    'the session is still ended with a DELETE',
  );
  await c.close();
});

test('an upstream that never acknowledges notifications/initialized: setup is bounded by timeout_ms', async () => {
  const c = await connectMcp(`${g.base}/mcp`, 'sk-all', 'raw-test');
  const names = (await within(c.listTools(), 6000)).tools.map((t) => t.name);
  assert.ok(!names.includes('mute__echo') && names.includes('stateful__echo'), JSON.stringify(names));
  const e = await within(failure(c.callTool({ name: 'mute__echo', arguments: {} })), 6000);
  assert.equal(e.code, -32603);
  assert.match(e.message, /upstream MCP server 'mute' failed to call tool/);
  await c.close();
});

test('one tool of unusual shape does not hide the server: every named tool is listed with an object inputSchema', async () => {
  const c = await connectMcp(`${g.base}/mcp/shapes`, 'sk-all', 'raw-test');
  const tools = (await c.listTools()).tools;
  assert.deepEqual(tools.map((t) => t.name).sort(), [
    'empty_schema',
    'no_schema',
    'odd_output',
    'plain',
    'string_schema',
  ]);
  for (const t of tools) assert.equal(t.inputSchema.type, 'object', t.name);
  assert.equal(tools.find((t) => t.name === 'no_schema')?.description, 'no inputSchema at all');
  assert.equal(
    (tools.find((t) => t.name === 'odd_output') as { outputSchema?: unknown }).outputSchema,
    undefined,
    'outputSchema is dropped (§2.4)',
  );
  assert.equal(textOf(await c.callTool({ name: 'no_schema', arguments: {} })), 'shapes:no_schema');
  await c.close();
  const agg = await connectMcp(`${g.base}/mcp`, 'sk-all', 'raw-test');
  const names = (await agg.listTools()).tools.map((t) => t.name);
  assert.ok(
    names.includes('shapes__plain') && names.includes('shapes__string_schema'),
    JSON.stringify(names),
  );
  await agg.close();
});

test('a very long timeout_ms (past a 32-bit timer) means a long deadline, not an immediate failure', async () => {
  const c = await connectMcp(`${g.base}/mcp`, 'sk-all', 'raw-test');
  const names = (await c.listTools()).tools.map((t) => t.name);
  assert.ok(names.includes('patient__plain') && names.includes('patient-api__poke'), JSON.stringify(names));
  assert.equal(textOf(await c.callTool({ name: 'patient__plain', arguments: {} })), 'shapes:plain');
  const r = await c.callTool({ name: 'patient-api__poke', arguments: { body: {} } });
  assert.notEqual(r.isError, true);
  await c.close();
});

test('a tools/list entry without a string name is skipped alone', async () => {
  shapes.handle(
    rawMcp((m, res) => {
      if (m.method === 'tools/list')
        return ok(m, res, {
          tools: [{ inputSchema: { type: 'object' } }, 7, { name: 'kept', inputSchema: {} }],
        });
      ok(m, res, { content: [] });
    }),
  );
  const c = await connectMcp(`${g.base}/mcp/shapes`, 'sk-all', 'raw-test');
  assert.deepEqual(
    (await c.listTools()).tools.map((t) => t.name),
    ['kept'],
  );
  // An answer without a tools array is a failed list leg: the server is skipped, no error.
  shapes.handle(rawMcp((m, res) => ok(m, res, { nope: true })));
  assert.deepEqual((await c.listTools()).tools, []);
  await c.close();
});

const MIB = 1024 * 1024;

/**
 * Writes `head`, then `bytes` more of filler (with back-pressure), and never ends the answer: a
 * reader without a bound would wait for the rest. Resolves once the client closed the connection.
 */
function flood(
  res: ServerResponse,
  contentType: string,
  head: string,
  bytes: number,
  headers: Record<string, string> = {},
): Promise<void> {
  const closed = new Promise<void>((r) => res.on('close', () => r()));
  res.writeHead(200, { 'content-type': contentType, ...headers });
  res.write(head);
  const chunk = Buffer.alloc(MIB, 'a');
  let left = bytes;
  const pump = () => {
    while (left > 0 && !res.destroyed) {
      left -= chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
  };
  pump();
  return closed;
}

const resultHead = (m: Rpc) =>
  `{"jsonrpc":"2.0","id":${JSON.stringify(m.id)},"result":{"content":[{"type":"text","text":"`;

test('an MCP upstream answer past the held-body bound (64 MiB) fails the call at once and aborts the read', async () => {
  let closed: Promise<void> | undefined;
  const json = await startRawUpstream(
    rawMcp((m, res) => {
      if (m.method === 'tools/list') return ok(m, res, { tools: [{ name: 'big', inputSchema: {} }] });
      closed = flood(res, 'application/json', resultHead(m), 65 * MIB);
    }),
  );
  const sse = await startRawUpstream(
    rawMcp((m, res) => {
      if (m.method === 'tools/list') return ok(m, res, { tools: [{ name: 'big', inputSchema: {} }] });
      closed = flood(res, 'text/event-stream', `event: message\ndata: ${resultHead(m)}`, 65 * MIB);
    }),
  );
  // A declared length over the bound is refused before any byte of the body is read.
  const declared = await startRawUpstream(
    rawMcp((m, res) => {
      closed = flood(res, 'application/json', resultHead(m), 0, { 'content-length': String(1024 * MIB) });
    }),
  );
  const docs: McpDocs = {
    mcp_servers: {
      j: { name: 'json', url: `${json.url}/mcp`, timeout_ms: 60_000 },
      s: { name: 'sse', url: `${sse.url}/mcp`, timeout_ms: 60_000 },
      d: { name: 'declared', url: `${declared.url}/mcp`, timeout_ms: 60_000 },
    },
    api_keys: { all: { key_hash: sha256('sk-all'), allowed_models: [], allowed_tools: ['*'] } },
  };
  const big = await startTestGateway(buildSnapshot(docs));
  try {
    const c = await connectMcp(`${big.base}/mcp`, 'sk-all', 'raw-test');
    for (const server of ['json', 'sse']) {
      closed = undefined;
      const e = await within(failure(c.callTool({ name: `${server}__big`, arguments: {} })), 20_000);
      assert.equal(e.code, -32603, server);
      assert.match(e.message, new RegExp(`upstream MCP server '${server}' failed to call tool`));
      assert.ok(closed !== undefined, server);
      await within(closed, 5000);
    }
    // A list leg that fails this way is skipped like any failed leg (§2.4).
    closed = undefined;
    const names = (await within(c.listTools(), 20_000)).tools.map((t) => t.name).sort();
    assert.deepEqual(names, ['json__big', 'sse__big']);
    assert.ok(closed !== undefined);
    await within(closed, 5000);
    await c.close();
  } finally {
    await big.gw.close();
    await Promise.all([json.close(), sse.close(), declared.close()]);
  }
});

test('an OpenAPI upstream answer past the held-body bound fails the call at once and aborts the read', async () => {
  let closed: Promise<void> | undefined;
  const api = await startRawUpstream((_req, res) => {
    closed = flood(res, 'application/json', '"', 65 * MIB);
  });
  const docs: McpDocs = {
    mcp_servers: {
      o: {
        name: 'api',
        type: 'openapi',
        url: api.url,
        timeout_ms: 60_000,
        spec: { openapi: '3.0.3', paths: { '/dump': { get: { operationId: 'dump' } } } },
      },
    },
    api_keys: { all: { key_hash: sha256('sk-all'), allowed_models: [], allowed_tools: ['*'] } },
  };
  const big = await startTestGateway(buildSnapshot(docs));
  try {
    const c = await connectMcp(`${big.base}/mcp`, 'sk-all', 'raw-test');
    const e = await within(failure(c.callTool({ name: 'api__dump', arguments: {} })), 20_000);
    assert.equal(e.code, -32603);
    assert.match(e.message, /upstream MCP server 'api' failed to call tool/);
    assert.ok(closed !== undefined);
    await within(closed, 5000);
    await c.close();
  } finally {
    await big.gw.close();
    await api.close();
  }
});

test('with output guardrails the result is buffered up to the body cap: past it, 502 "invalid upstream response"', async () => {
  let size = 2 * MIB;
  const text = () => 'x'.repeat(size);
  const mcp = await startRawUpstream(
    rawMcp((m, res) => {
      if (m.method === 'tools/list') return ok(m, res, { tools: [{ name: 'big', inputSchema: {} }] });
      ok(m, res, { content: [{ type: 'text', text: text() }] });
    }),
  );
  const api = await startRawUpstream((_req, res) => sendJsonBody(res, 200, { text: text() }));
  const docs = {
    mcp_servers: {
      m: { name: 'mcp', url: `${mcp.url}/mcp` },
      o: {
        name: 'api',
        type: 'openapi',
        url: api.url,
        spec: { openapi: '3.0.3', paths: { '/dump': { get: { operationId: 'dump' } } } },
      },
    },
    api_keys: { all: { key_hash: sha256('sk-all'), allowed_models: [], allowed_tools: ['*'] } },
    guardrails: {
      kw: { name: 'kw', kind: 'keyword', patterns: [{ kind: 'literal', value: 'forbidden' }] },
    },
  } as Docs;
  const capped = await startTestGateway(
    buildSnapshot(docs),
    testConfig({ proxy: { addr: '127.0.0.1:0', request_body_limit_bytes: MIB } }),
  );
  const call = (name: string) =>
    fetch(`${capped.base}/mcp`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer sk-all',
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} } }),
    });
  try {
    for (const name of ['mcp__big', 'api__dump']) {
      const r = await call(name);
      assert.equal(r.status, 502, name);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(await r.text(), 'invalid upstream response');
    }
    // Under the cap the result is scanned and answered as usual.
    size = 1024;
    for (const name of ['mcp__big', 'api__dump']) {
      const r = await call(name);
      assert.equal(r.status, 200, name);
      const doc = (await r.json()) as { result?: { content?: { text?: string }[] } };
      assert.ok(doc.result?.content?.[0]?.text?.includes('x'.repeat(1024)), name);
    }
  } finally {
    await capped.gw.close();
    await Promise.all([mcp.close(), api.close()]);
  }
});

test('JSON nested too deep to re-encode: the tool is left out of tools/list, its call is -32603 (never a 500)', async () => {
  // Past any JSON.stringify recursion; sent as event-stream answers, which the SDK hands over
  // without a schema walk of the nested value.
  const deepValue = `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`;
  const sse = (res: ServerResponse, body: string) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(`event: message\ndata: ${body}\n\n`);
  };
  const deep = await startRawUpstream(
    rawMcp((m, res) => {
      const id = JSON.stringify(m.id);
      if (m.method === 'tools/list')
        return sse(
          res,
          `{"jsonrpc":"2.0","id":${id},"result":{"tools":[{"name":"fine","inputSchema":{"type":"object"}},` +
            `{"name":"abyss","inputSchema":{"type":"object","properties":${deepValue}}}]}}`,
        );
      sse(
        res,
        `{"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","text":"a"}],"structuredContent":${deepValue}}}`,
      );
    }),
  );
  const docs: McpDocs = {
    mcp_servers: {
      d: { name: 'deep', url: `${deep.url}/mcp`, timeout_ms: 5000 },
      sh: { name: 'shapes', url: `${shapes.url}/mcp` },
    },
    api_keys: { all: { key_hash: sha256('sk-all'), allowed_models: [], allowed_tools: ['*'] } },
  };
  shapes.handle(
    rawMcp((m, res) => {
      if (m.method === 'tools/list') return ok(m, res, { tools: [{ name: 'plain', inputSchema: {} }] });
      ok(m, res, { content: [{ type: 'text', text: `shapes:${m.params?.name}` }] });
    }),
  );
  const gw = await startTestGateway(buildSnapshot(docs));
  try {
    const c = await connectMcp(`${gw.base}/mcp`, 'sk-all', 'raw-test');
    // The other server's tools and the deep server's well-formed tool are still listed.
    assert.deepEqual((await c.listTools()).tools.map((t) => t.name).sort(), ['deep__fine', 'shapes__plain']);
    const e = await failure(c.callTool({ name: 'deep__fine', arguments: {} }));
    assert.equal(e.code, -32603);
    assert.match(e.message, /malformed tool content from upstream/);
    assert.equal(textOf(await c.callTool({ name: 'shapes__plain', arguments: {} })), 'shapes:plain');
    await c.close();
  } finally {
    await gw.gw.close();
    await deep.close();
  }
});
