import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { selfSignedCert, type TestCert } from '@aisix/testkit';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Docs,
  type Started,
  sha256,
  standardDocs,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { connectMcp, textOf } from '../test/mcp-client.js';
import { type MockMcp, startMockMcp } from '../test/mock-mcp.js';

let server: TestCert;
let clientCert: TestCert;
let secure: MockMcp;
let mutual: MockMcp;
/** One HTTPS REST origin: the OAuth token endpoint, an OpenAPI tool API and a chat upstream. */
let rest: Server;
let restUrl: string;
const restSeen: string[] = [];
/** Answers everything with a 307 to the real upstreams: redirects must never be followed. */
let redirector: import('node:http').Server;
let redirUrl: string;
const redirected: string[] = [];
let trusted: Started;
let untrusted: Started;
let unverified: Started;

function restHandler(req: IncomingMessage, res: ServerResponse): void {
  restSeen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
  req.resume();
  req.on('end', () => {
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/oauth/token') return send(200, { access_token: 'tls-token', expires_in: 3600 });
    if (req.url === '/api/items/7')
      return req.headers.authorization === 'Bearer tls-token'
        ? send(200, { id: 7, over: 'https' })
        : send(401, { error: 'no token' });
    if (req.url === '/v1/chat/completions')
      return send(200, {
        id: 'chatcmpl-tls',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'over https' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      });
    send(404, { error: 'not found' });
  });
}

const ITEM_SPEC = {
  openapi: '3.0.3',
  info: { title: 'erp', version: '1' },
  paths: {
    '/items/{id}': {
      get: {
        operationId: 'getItem',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer' } }],
      },
    },
  },
};

function docs(): Docs {
  const d = standardDocs(restUrl);
  return {
    ...d,
    mcp_servers: {
      h1: { name: 'hop', url: `${redirUrl}/mcp` },
      h2: { name: 'hopapi', type: 'openapi', url: `${redirUrl}/api`, spec: ITEM_SPEC },
      h3: {
        name: 'hoptoken',
        type: 'openapi',
        url: `${restUrl}/api`,
        auth_type: 'oauth2',
        secret: 'oauth-secret',
        client_id: 'gw',
        token_url: `${redirUrl}/oauth/token`,
        spec: ITEM_SPEC,
      },
      s: { name: 'secure', url: secure.url, auth_type: 'bearer', secret: 'upstream-secret' },
      m: { name: 'mutual', url: mutual.url },
      e: {
        name: 'erp',
        type: 'openapi',
        url: `${restUrl}/api`,
        auth_type: 'oauth2',
        secret: 'oauth-secret',
        client_id: 'gw',
        token_url: `${restUrl}/oauth/token`,
        spec: {
          openapi: '3.0.3',
          info: { title: 'erp', version: '1' },
          paths: {
            '/items/{id}': {
              get: {
                operationId: 'getItem',
                parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer' } }],
              },
            },
          },
        },
      },
    },
    api_keys: {
      ...d.api_keys,
      tools: { key_hash: sha256('sk-tools'), allowed_models: [], allowed_tools: ['*'] },
    },
  } as Docs;
}

before(async () => {
  server = selfSignedCert();
  clientCert = selfSignedCert();
  secure = await startMockMcp('secure', { cert: server.cert, key: server.key });
  mutual = await startMockMcp('mutual', { cert: server.cert, key: server.key, ca: clientCert.cert });
  redirector = createHttpServer((req, res) => {
    redirected.push(`${req.method} ${req.url}`);
    req.resume();
    const to = req.url?.startsWith('/mcp') ? secure.url : `${restUrl}${req.url}`;
    res.writeHead(307, { location: to }).end();
  });
  await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
  redirUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
  rest = createServer({ cert: server.cert, key: server.key }, restHandler);
  await new Promise<void>((r) => rest.listen(0, '127.0.0.1', r));
  restUrl = `https://127.0.0.1:${(rest.address() as AddressInfo).port}`;
  const snap = () => buildSnapshot(docs());
  trusted = await startTestGateway(
    snap(),
    testConfig({
      upstream: {
        retries: 0,
        tls: {
          ca_file: server.certFile,
          client_cert_file: clientCert.certFile,
          client_key_file: clientCert.keyFile,
        },
      },
    }),
  );
  untrusted = await startTestGateway(snap());
  unverified = await startTestGateway(
    snap(),
    testConfig({ upstream: { retries: 0, tls: { verify: false } } }),
  );
});

after(async () => {
  await Promise.all([trusted, untrusted, unverified].map((g) => g.gw.close()));
  await secure.close();
  await mutual.close();
  redirector.closeAllConnections();
  await new Promise<void>((r) => redirector.close(() => r()));
  rest.closeAllConnections();
  await new Promise<void>((r) => rest.close(() => r()));
});

const connect = (g: Started): Promise<Client> => connectMcp(`${g.base}/mcp`, 'sk-tools', 'tls-test');

async function code(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: number }).code;
  }
  assert.fail('expected a failure');
}

test('upstream.tls.ca_file: MCP, OAuth-token and OpenAPI upstreams over HTTPS with a self-signed CA; client certificate presented', async () => {
  const c = await connect(trusted);
  const names = (await c.listTools()).tools.map((t) => t.name).sort();
  assert.deepEqual(names, [
    'erp__getitem',
    'hopapi__getitem',
    'hoptoken__getitem',
    'mutual__echo',
    'mutual__reverse',
    'secure__echo',
    'secure__reverse',
  ]);
  assert.equal(
    textOf(await c.callTool({ name: 'secure__echo', arguments: { text: 'tls' } })),
    'secure:echo:tls',
  );
  assert.ok(secure.headers.every((h) => h.authorization === 'Bearer upstream-secret'));
  // mTLS: the upstream only accepts a client certificate issued by its CA.
  assert.equal(textOf(await c.callTool({ name: 'mutual__echo', arguments: { text: 'm' } })), 'mutual:echo:m');
  // OAuth token minted over HTTPS, then the OpenAPI call over HTTPS with it.
  const r = await c.callTool({ name: 'erp__getitem', arguments: { id: 7 } });
  assert.equal(r.isError, false);
  assert.deepEqual(JSON.parse(textOf(r)), { id: 7, over: 'https' });
  assert.ok(restSeen.includes('POST /oauth/token '));
  assert.ok(restSeen.includes('GET /api/items/7 Bearer tls-token'));
  await c.close();
});

test('upstream.tls also applies to the model upstream: chat over HTTPS with the CA trusted', async () => {
  const client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${trusted.base}/v1`, maxRetries: 0 });
  const r = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
  });
  assert.equal(r.choices[0]?.message.content, 'over https');
  const other = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${untrusted.base}/v1`, maxRetries: 0 });
  const err = await other.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
    .catch((e: unknown) => e);
  assert.ok(err instanceof OpenAI.APIError);
  assert.ok((err.status ?? 0) >= 500, `status ${err.status}`);
});

test('without the CA the self-signed upstreams are not trusted: MCP servers skipped, calls -32603', async () => {
  const before = secure.headers.length;
  const c = await connect(untrusted);
  // OpenAPI tools come from the stored document (no network); the MCP upstreams are skipped.
  assert.deepEqual((await c.listTools()).tools.map((t) => t.name).sort(), [
    'erp__getitem',
    'hopapi__getitem',
    'hoptoken__getitem',
  ]);
  assert.equal(await code(c.callTool({ name: 'secure__echo', arguments: { text: 'x' } })), -32603);
  assert.equal(await code(c.callTool({ name: 'erp__getitem', arguments: { id: 7 } })), -32603);
  assert.equal(secure.headers.length, before, 'no request got through the TLS handshake');
  await c.close();
});

test('upstream.tls.verify: false accepts the unknown certificate', async () => {
  const c = await connect(unverified);
  assert.equal(textOf(await c.callTool({ name: 'secure__echo', arguments: { text: 'v' } })), 'secure:echo:v');
  // No client certificate configured: the mutual-TLS upstream still refuses the handshake.
  assert.equal(await code(c.callTool({ name: 'mutual__echo', arguments: { text: 'm' } })), -32603);
  await c.close();
});

test('redirects are never followed: MCP upstream, OAuth token endpoint and OpenAPI call', async () => {
  const c = await connect(trusted);
  assert.ok(!(await c.listTools()).tools.some((t) => t.name.startsWith('hop__')), 'hop is skipped');
  const secureSeen = secure.headers.length;
  const restBefore = restSeen.length;
  assert.equal(await code(c.callTool({ name: 'hop__echo', arguments: { text: 'x' } })), -32603);
  assert.equal(await code(c.callTool({ name: 'hopapi__getitem', arguments: { id: 7 } })), -32603);
  assert.equal(await code(c.callTool({ name: 'hoptoken__getitem', arguments: { id: 7 } })), -32603);
  await c.close();
  assert.equal(secure.headers.length, secureSeen, 'the redirect target was never contacted');
  assert.equal(restSeen.length, restBefore, 'no token or API request followed a redirect');
  assert.ok(redirected.includes('POST /mcp'));
  assert.ok(redirected.includes('GET /api/items/7'));
  assert.ok(redirected.includes('POST /oauth/token'));
});
