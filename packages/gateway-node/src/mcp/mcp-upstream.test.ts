import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { pino } from 'pino';
import { buildSnapshot, type Docs, type Started, sha256, startTestGateway } from '../test/fixtures.js';
import { connectMcp, failure, textOf } from '../test/mcp-client.js';
import { type MockMcp, startMockMcp } from '../test/mock-mcp.js';

interface McpDocs extends Docs {
  readonly mcp_servers: Record<string, Record<string, unknown>>;
  readonly rate_limit_policies: Record<string, Record<string, unknown>>;
}

interface TokenEndpoint {
  readonly url: string;
  readonly forms: URLSearchParams[];
  delayMs: number;
  close(): Promise<void>;
}

/** An OAuth2 token endpoint mock: counts the tokens it issues (`tok-1`, `tok-2`...). */
async function startTokenEndpoint(): Promise<TokenEndpoint> {
  const t = { url: '', forms: [] as URLSearchParams[], delayMs: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      setTimeout(() => {
        if (form.get('client_secret') !== 'oauth-secret') {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
          return;
        }
        t.forms.push(form);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ access_token: `tok-${t.forms.length}`, token_type: 'bearer', expires_in: 3600 }),
        );
      }, t.delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`;
  t.close = () => new Promise<void>((r) => server.close(() => r()));
  return t;
}

let alpha: MockMcp;
let beta: MockMcp;
let keyed: MockMcp;
let oauth: MockMcp;
let flaky: MockMcp;
let tokens: TokenEndpoint;
let echoer: Server;
let g: Started;
const logs: Record<string, unknown>[] = [];
const raw: string[] = [];

const key = (plain: string, extra: Record<string, unknown> = {}) => ({
  key_hash: sha256(plain),
  allowed_models: [],
  allowed_tools: ['*'],
  ...extra,
});

before(async () => {
  alpha = await startMockMcp('alpha');
  beta = await startMockMcp('beta');
  keyed = await startMockMcp('keyed');
  oauth = await startMockMcp('oauth');
  flaky = await startMockMcp('flaky');
  tokens = await startTokenEndpoint();
  // An MCP server that refuses every request quoting the credential it got.
  echoer = createServer((req, res) => {
    req.resume();
    res.writeHead(401, { 'content-type': 'text/plain' }).end(`invalid token: ${req.headers.authorization}`);
  });
  await new Promise<void>((r) => echoer.listen(0, '127.0.0.1', r));
  keyed.authorize = (h) => h['x-api-key'] === 'upstream-api-key';
  let accepted = 'Bearer tok-1';
  oauth.authorize = (h) => h.authorization === accepted;
  (oauth as MockMcp & { accept(t: string): void }).accept = (t) => {
    accepted = t;
  };
  const docs: McpDocs = {
    mcp_servers: {
      a: { name: 'alpha', url: alpha.url },
      b: { name: 'beta', url: beta.url, auth_type: 'bearer', secret: 'beta-secret' },
      k: { name: 'keyed', url: keyed.url, auth_type: 'api_key', secret: 'upstream-api-key' },
      o: {
        name: 'oauth',
        url: oauth.url,
        auth_type: 'oauth2',
        secret: 'oauth-secret',
        client_id: 'gw-client',
        token_url: tokens.url,
        scopes: ['tools.read', 'tools.call'],
      },
      f: { name: 'flaky', url: flaky.url, timeout_ms: 1500 },
      e: {
        name: 'echoer',
        url: `http://127.0.0.1:${(echoer.address() as AddressInfo).port}/mcp`,
        auth_type: 'bearer',
        secret: 'echoed-CANARY-7f3a',
      },
    },
    api_keys: {
      all: key('sk-all'),
      rl: key('sk-rl', { mcp_rate_limits: { alpha: { rpm: 2 } } }),
      twin: key('sk-twin', { mcp_rate_limits: { alpha: { rpm: 2 } } }),
      inline: key('sk-inline', { rate_limit: { rpm: 1 } }),
      pol: key('sk-pol', { team_id: 'tools-team' }),
    },
    rate_limit_policies: {
      p1: {
        name: 'tools-team-per-minute',
        scope: 'team',
        scope_ref: 'tools-team',
        window: 'minute',
        max_requests: 1,
      },
    },
  };
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (l === '') continue;
        raw.push(l);
        logs.push(JSON.parse(l) as Record<string, unknown>);
      }
      cb();
    },
  });
  g = await startTestGateway(buildSnapshot(docs), undefined, { logger: pino({ level: 'info' }, sink) });
});

after(async () => {
  await g.gw.close();
  await Promise.all([alpha, beta, keyed, oauth, flaky].map((m) => m.close()));
  await tokens.close();
  await new Promise<void>((r) => echoer.close(() => r()));
});

const connect = (token: string, path = '/mcp'): Promise<Client> =>
  connectMcp(g.base + path, token, 'upstream-test');

test('api_key upstream auth: x-api-key carries the stored secret', async () => {
  const c = await connect('sk-all');
  assert.equal(textOf(await c.callTool({ name: 'keyed__echo', arguments: { text: 'k' } })), 'keyed:echo:k');
  assert.ok(keyed.headers.length > 0 && keyed.headers.every((h) => h['x-api-key'] === 'upstream-api-key'));
  assert.ok(keyed.headers.every((h) => h.authorization === undefined));
  await c.close();
});

test('oauth2 upstream auth: client credentials minted once, shared by concurrent calls, re-minted after a 401', async () => {
  const c = await connect('sk-all');
  tokens.delayMs = 150;
  const results = await Promise.all(
    [1, 2, 3, 4, 5].map((i) => c.callTool({ name: 'oauth__echo', arguments: { text: String(i) } })),
  );
  assert.deepEqual(
    results.map(textOf),
    [1, 2, 3, 4, 5].map((i) => `oauth:echo:${i}`),
  );
  assert.equal(tokens.forms.length, 1, 'five concurrent calls share one token request');
  const form = tokens.forms[0] as URLSearchParams;
  assert.equal(form.get('grant_type'), 'client_credentials');
  assert.equal(form.get('client_id'), 'gw-client');
  assert.equal(form.get('scope'), 'tools.read tools.call');
  assert.ok(oauth.headers.every((h) => h.authorization === 'Bearer tok-1'));
  // Cached: more calls mint nothing.
  await c.callTool({ name: 'oauth__reverse', arguments: { text: 'ab' } });
  assert.equal(tokens.forms.length, 1);
  // The upstream stops accepting tok-1: that call fails, the token is dropped, the next mints tok-2.
  (oauth as MockMcp & { accept(t: string): void }).accept('Bearer tok-2');
  const e = await failure(c.callTool({ name: 'oauth__echo', arguments: { text: 'x' } }));
  assert.equal(e.code, -32603);
  assert.match(e.message, /upstream MCP server 'oauth' failed to call tool/);
  assert.equal(textOf(await c.callTool({ name: 'oauth__echo', arguments: { text: 'y' } })), 'oauth:echo:y');
  assert.equal(tokens.forms.length, 2);
  await c.close();
});

test('per-server rate limit: third alpha call is 429, beta and a twin key unaffected, list keeps answering', async () => {
  const c = await connect('sk-rl');
  await c.callTool({ name: 'alpha__echo', arguments: { text: '1' } });
  await c.callTool({ name: 'alpha__reverse', arguments: { text: '2' } });
  const e = await failure(c.callTool({ name: 'alpha__echo', arguments: { text: '3' } }));
  assert.equal(e.code, 429);
  // The scoped endpoint shares the bucket; the 429 is an HTTP error in the OpenAI envelope.
  const r = await fetch(`${g.base}/mcp/alpha`, {
    method: 'POST',
    headers: {
      authorization: 'Bearer sk-rl',
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'echo', arguments: {} },
    }),
  });
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers.get('retry-after')) > 0);
  assert.equal(((await r.json()) as { error: { type: string } }).error.type, 'rate_limit_exceeded');
  assert.equal(textOf(await c.callTool({ name: 'beta__echo', arguments: { text: 'b' } })), 'beta:echo:b');
  assert.ok((await c.listTools()).tools.length > 0, 'tools/list is never metered');
  const twin = await connect('sk-twin');
  await twin.callTool({ name: 'alpha__echo', arguments: { text: 't' } });
  const free = await connect('sk-all');
  for (let i = 0; i < 4; i++) await free.callTool({ name: 'alpha__echo', arguments: { text: 'f' } });
  await Promise.all([c.close(), twin.close(), free.close()]);
});

async function rawCall(token: string, tool: string): Promise<Response> {
  return fetch(`${g.base}/mcp`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: tool, arguments: {} },
    }),
  });
}

test('tools/call also passes the key inline limit and the policies (no model dimension)', async () => {
  assert.equal((await rawCall('sk-inline', 'alpha__echo')).status, 200);
  let r = await rawCall('sk-inline', 'beta__echo');
  assert.equal(r.status, 429, 'the key inline rpm counts calls on every server');
  assert.equal((await rawCall('sk-pol', 'alpha__echo')).status, 200);
  r = await rawCall('sk-pol', 'beta__echo');
  assert.equal(r.status, 429);
  const err = ((await r.json()) as { error: { message: string } }).error;
  assert.match(err.message, /tools-team-per-minute/);
});

test('a hung upstream: timeout_ms bounds the call (-32603) and the list leg (tools skipped)', async () => {
  const c = await connect('sk-all');
  flaky.hang = true;
  const t0 = performance.now();
  const e = await failure(c.callTool({ name: 'flaky__echo', arguments: { text: 'x' } }));
  assert.equal(e.code, -32603);
  assert.match(e.message, /upstream MCP server 'flaky' failed to call tool/);
  const names = (await c.listTools()).tools.map((t) => t.name);
  assert.ok(!names.includes('flaky__echo') && names.includes('alpha__echo'));
  assert.ok(performance.now() - t0 < 8000, 'both bounded by the 1.5 s deadline');
  flaky.hang = false;
  assert.equal(
    textOf(await c.callTool({ name: 'flaky__echo', arguments: { text: 'back' } })),
    'flaky:echo:back',
  );
  await c.close();
});

test('a tool result that is not valid MCP content: -32603 malformed tool content (§2.11), not an upstream failure', async () => {
  const c = await connect('sk-all');
  const e = await failure(c.callTool({ name: 'alpha__weird', arguments: {} }));
  assert.equal(e.code, -32603);
  assert.match(e.message, /^(MCP error -32603: )?malformed tool content from upstream: /);
  await c.close();
});

test('a server going down mid-session: its tools vanish from the list, its calls get -32603, others keep working', async () => {
  const c = await connect('sk-all');
  const before = (await c.listTools()).tools.map((t) => t.name);
  assert.ok(before.includes('flaky__echo'));
  await flaky.close();
  const now = (await c.listTools()).tools.map((t) => t.name);
  assert.ok(!now.some((n) => n.startsWith('flaky__')));
  assert.ok(now.includes('alpha__echo') && now.includes('oauth__echo'));
  const e = await failure(c.callTool({ name: 'flaky__echo', arguments: { text: 'x' } }));
  assert.equal(e.code, -32603);
  assert.match(e.message, /upstream MCP server 'flaky' failed to call tool/);
  assert.equal(textOf(await c.callTool({ name: 'alpha__echo', arguments: { text: 'ok' } })), 'alpha:echo:ok');
  assert.ok(logs.some((l) => l.server === 'flaky' && l.msg === 'MCP upstream failed to call tool'));
  await c.close();
});

test('an upstream that echoes the credential in its refusal: logged failures carry it masked', async () => {
  const c = await connect('sk-all');
  assert.ok(!(await c.listTools()).tools.some((t) => t.name.startsWith('echoer__')));
  const e = await failure(c.callTool({ name: 'echoer__echo', arguments: {} }));
  assert.equal(e.code, -32603);
  await c.close();
  const failed = logs.filter((l) => l.server === 'echoer' && typeof l.err === 'string');
  assert.ok(failed.length >= 1);
  assert.ok(
    failed.some((l) => String(l.err).includes('invalid token: ')),
    JSON.stringify(failed),
  );
  assert.ok(!raw.some((l) => l.includes('CANARY')), 'the echoed credential leaked into the log');
});

test('cleartext-credential warning: once per (server, finding, url), requests unaffected, no secret in any log', () => {
  const warned = logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('sent over cleartext http'));
  const per = (server: string) => warned.filter((l) => l.server === server);
  assert.equal(per('beta').length, 1);
  assert.equal(per('keyed').length, 1);
  // oauth2: the upstream credential and the client secret are separate findings.
  assert.equal(per('oauth').length, 2);
  assert.equal(per('alpha').length, 0, 'auth_type none sends no credential');
  assert.equal(per('beta')[0]?.url, beta.url);
  assert.ok(
    logs.some((l) => l.path === '/mcp' && l.provider === 'mcp' && l.model === 'mcp' && l.status === 200),
  );
  for (const secret of ['beta-secret', 'upstream-api-key', 'oauth-secret', 'tok-1', 'sk-all'])
    assert.ok(!raw.some((l) => l.includes(secret)), `${secret} leaked into the log`);
});
