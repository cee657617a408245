import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { pino } from 'pino';
import { buildSnapshot, type Docs, type Started, sha256, startTestGateway } from '../test/fixtures.js';
import { connectMcp, textOf } from '../test/mcp-client.js';

interface McpDocs extends Docs {
  readonly mcp_servers: Record<string, Record<string, unknown>>;
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const SPEC = {
  openapi: '3.0.3',
  info: { title: 'erp', version: '1' },
  components: {
    schemas: {
      Order: {
        type: 'object',
        properties: { sku: { type: 'string' }, qty: { type: 'integer' } },
        required: ['sku'],
      },
    },
    parameters: { Verbose: { name: 'verbose', in: 'query', schema: { type: 'boolean' } } },
  },
  paths: {
    '/items/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, description: 'item id' }],
      get: {
        operationId: 'getItem',
        summary: 'Fetch an item',
        parameters: [
          { $ref: '#/components/parameters/Verbose' },
          { name: 'tags', in: 'query', schema: { type: 'array', items: { type: 'string' } } },
          { name: 'x-trace', in: 'header', schema: { type: 'string' } },
        ],
      },
    },
    '/orders': {
      post: {
        operationId: 'createOrder',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Order' } } },
        },
      },
    },
    '/fail': { get: { operationId: 'failOp', description: 'always fails' } },
    '/denied': { get: { operationId: 'deniedOp' } },
    '/upload': {
      post: { operationId: 'upload', requestBody: { content: { 'multipart/form-data': { schema: {} } } } },
    },
  },
};

let rest: Server;
let restUrl: string;
const seen: Seen[] = [];
let g: Started;
let client: Client;

before(async () => {
  rest = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/api/denied') {
        // An API that quotes the credential it refused.
        res
          .writeHead(401, { 'content-type': 'text/plain' })
          .end(`bad credential: ${req.headers.authorization}`);
        return;
      }
      if (req.url === '/api/fail') {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ok: true, url: req.url }));
    });
  });
  await new Promise<void>((r) => rest.listen(0, '127.0.0.1', r));
  restUrl = `http://127.0.0.1:${(rest.address() as AddressInfo).port}/api/`;
  const docs: McpDocs = {
    mcp_servers: {
      erp: {
        name: 'erp',
        type: 'openapi',
        url: restUrl,
        auth_type: 'bearer',
        secret: 'erp-token-CANARY-7f3a',
        spec: SPEC,
      },
    },
    api_keys: {
      all: { key_hash: sha256('sk-all'), allowed_models: [], allowed_tools: ['*'] },
      ro: { key_hash: sha256('sk-ro'), allowed_models: [], allowed_tools: ['erp__get*'] },
    },
  };
  g = await startTestGateway(buildSnapshot(docs));
  client = await connect('sk-all');
});

after(async () => {
  await client.close();
  await g.gw.close();
  await new Promise<void>((r) => rest.close(() => r()));
});

const connect = (token: string): Promise<Client> => connectMcp(`${g.base}/mcp`, token, 'openapi-test');

test('openapi: tools generated from the spec with resolved schemas; multipart-only operations skipped', async () => {
  const tools = (await client.listTools()).tools;
  assert.deepEqual(tools.map((t) => t.name).sort(), [
    'erp__createorder',
    'erp__deniedop',
    'erp__failop',
    'erp__getitem',
  ]);
  const get = tools.find((t) => t.name === 'erp__getitem');
  assert.equal(get?.description, 'Fetch an item');
  assert.deepEqual(get?.inputSchema, {
    type: 'object',
    properties: {
      id: { type: 'string', description: 'item id' },
      verbose: { type: 'boolean' },
      tags: { type: 'array', items: { type: 'string' } },
    },
    required: ['id'],
  });
  const create = tools.find((t) => t.name === 'erp__createorder');
  assert.deepEqual(create?.inputSchema.properties, {
    body: {
      type: 'object',
      properties: { sku: { type: 'string' }, qty: { type: 'integer' } },
      required: ['sku'],
    },
  });
  assert.deepEqual(create?.inputSchema.required, ['body']);
  assert.equal(tools.find((t) => t.name === 'erp__failop')?.description, 'always fails');
});

test('openapi: calls substitute paths, serialize queries, send the JSON body and the bearer', async () => {
  let r = await client.callTool({
    name: 'erp__getitem',
    arguments: { id: 'a b', verbose: true, tags: ['x', 'y'] },
  });
  assert.equal(r.isError, false);
  let last = seen.at(-1) as Seen;
  assert.equal(last.method, 'GET');
  assert.equal(last.url, '/api/items/a%20b?verbose=true&tags=x&tags=y');
  assert.equal(last.headers.authorization, 'Bearer erp-token-CANARY-7f3a');
  assert.deepEqual(JSON.parse(textOf(r)), { ok: true, url: last.url });
  r = await client.callTool({ name: 'erp__createorder', arguments: { body: { sku: 's1', qty: 2 } } });
  last = seen.at(-1) as Seen;
  assert.equal(last.method, 'POST');
  assert.equal(last.url, '/api/orders');
  assert.deepEqual(JSON.parse(last.body), { sku: 's1', qty: 2 });
  assert.equal(last.headers['content-type'], 'application/json');
  await client.callTool({ name: 'erp__createorder', arguments: { body: 'not json' } });
  assert.deepEqual(JSON.parse((seen.at(-1) as Seen).body), { data: 'not json' });
});

test('openapi: non-2xx and a missing path parameter are tool-level errors; the ACL applies', async () => {
  const before = seen.length;
  let r = await client.callTool({ name: 'erp__failop', arguments: {} });
  assert.equal(r.isError, true);
  assert.match(textOf(r), /HTTP 500/);
  assert.match(textOf(r), /boom/);
  r = await client.callTool({ name: 'erp__getitem', arguments: {} });
  assert.equal(r.isError, true);
  assert.match(textOf(r), /missing required path parameter 'id'/);
  r = await client.callTool({ name: 'erp__getitem', arguments: { id: '../admin' } });
  assert.equal(r.isError, true);
  assert.equal(seen.length, before + 1, 'refused path parameters never reach the API');
  const ro = await connect('sk-ro');
  assert.deepEqual(
    (await ro.listTools()).tools.map((t) => t.name),
    ['erp__getitem'],
  );
  await assert.rejects(ro.callTool({ name: 'erp__createorder', arguments: { body: {} } }), /not available/);
  await ro.close();
});

test('openapi: an error body that echoes the credential reaches the caller without it', async () => {
  const r = await client.callTool({ name: 'erp__deniedop', arguments: {} });
  assert.equal(r.isError, true);
  assert.equal((seen.at(-1) as Seen).headers.authorization, 'Bearer erp-token-CANARY-7f3a');
  assert.match(textOf(r), /HTTP 401: bad credential: /);
  assert.ok(!textOf(r).includes('CANARY'), textOf(r));
});

test('openapi: a stored secret that is not a valid header value fails the call cleanly, never logged', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  // Secrets no HTTP header can carry (a pasted line break inside).
  const server = (name: string, auth: Record<string, unknown>) => ({
    name,
    type: 'openapi',
    url: restUrl,
    spec: SPEC,
    ...auth,
  });
  const docs: McpDocs = {
    mcp_servers: {
      k: server('badkey', {
        auth_type: 'api_key',
        api_key_header: 'x-erp-key',
        secret: 'half\nCANARY-k-91b2',
      }),
      b: server('badbearer', { auth_type: 'bearer', secret: 'half\rCANARY-b-4c1d' }),
    },
    api_keys: { all: { key_hash: sha256('sk-all'), allowed_models: [], allowed_tools: ['*'] } },
  };
  const own = await startTestGateway(buildSnapshot(docs), undefined, {
    logger: pino({ level: 'info' }, sink),
  });
  const c = await connectMcp(`${own.base}/mcp`, 'sk-all', 'openapi-test');
  const sent = seen.length;
  for (const name of ['badkey__getitem', 'badbearer__getitem'])
    await assert.rejects(
      c.callTool({ name, arguments: { id: '1' } }),
      (e: { code?: number; message: string }) => {
        assert.equal(e.code, -32603);
        assert.match(e.message, /upstream MCP server 'bad(key|bearer)' failed to call tool/);
        return true;
      },
    );
  await c.close();
  await own.gw.close();
  assert.equal(seen.length, sent, 'nothing was sent');
  assert.ok(
    lines.some((l) => l.includes('"server":"badkey"')),
    'the failure is logged',
  );
  for (const l of lines) assert.ok(!l.includes('CANARY'), `secret leaked into the log: ${l}`);
});
