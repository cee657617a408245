/**
 * The MCP gateway from the store (issue 12): servers, policies and keys written through the
 * Admin API to real etcd reach a real `--role all` process live; the official MCP SDK client
 * talks to our `/mcp` and an upstream MCP server built with the same SDK.
 */
import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { testEtcd } from '@aisix/testkit';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  AdminClient,
  type AisixProcess,
  removeDir,
  startAisix,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

/** An upstream MCP server (stateless Streamable HTTP) with one tool, `echo`. */
async function startUpstream(
  name: string,
  seen: IncomingHttpHeaders[],
): Promise<{ url: string; http: HttpServer }> {
  const http = createServer(async (req, res) => {
    seen.push(req.headers);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const server = new Server({ name, version: '1' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, () => ({
      tools: [{ name: 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } } } }],
    }));
    server.setRequestHandler(CallToolRequestSchema, (r) => ({
      content: [{ type: 'text', text: `${name}:${String(r.params.arguments?.text)}` }],
    }));
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on('close', () => void server.close());
    await server.connect(transport);
    await transport.handleRequest(req, res, raw === '' ? undefined : JSON.parse(raw));
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`, http };
}

describe('MCP gateway through the Admin API and etcd', () => {
  const dir = tempDir('mcp');
  const seen: IncomingHttpHeaders[] = [];
  let upstreams: { url: string; http: HttpServer }[] = [];
  let p: AisixProcess;
  let api: AdminClient;
  let key = '';
  let betaId = '';

  const tools = async (): Promise<string[]> => {
    const c = new Client({ name: 'e2e', version: '1' });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${p.proxyUrl}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    const names = (await c.listTools()).tools.map((t) => t.name).sort();
    await c.close();
    return names;
  };
  const until = (want: string[]) =>
    waitUntil(
      `tools ${want.join(',')}`,
      async () => {
        const got = await tools();
        return got.join(',') === want.join(',') ? got : undefined;
      },
      { timeoutMs: 10_000, alive: [p] },
    );

  before(async () => {
    const etcd = await testEtcd();
    upstreams = [await startUpstream('alpha', seen), await startUpstream('beta', seen)];
    p = await startAisix({ name: 'all', dir, role: 'all', etcd });
    await waitStatus(p, `${p.proxyUrl}/readyz`, 200);
    api = new AdminClient(p.adminUrl);
    await api.create('mcp_servers', { name: 'alpha', url: upstreams[0]?.url });
    betaId = (
      await api.create('mcp_servers', {
        name: 'beta',
        url: upstreams[1]?.url,
        auth_type: 'bearer',
        secret: 'beta-upstream-secret',
      })
    ).id;
    const k = await api.create('api_keys', { allowed_models: [], allowed_tools: ['*'] });
    assert.ok(k.plaintext);
    key = k.plaintext;
  });

  after(async () => {
    await p?.kill();
    for (const u of upstreams) u.http.close();
    removeDir(dir);
  });

  test('servers created through the Admin API are served, calls routed by prefix with the stored bearer', async () => {
    await until(['alpha__echo', 'beta__echo']);
    const c = new Client({ name: 'e2e', version: '1' });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${p.proxyUrl}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    const r = await c.callTool({ name: 'beta__echo', arguments: { text: 'hi' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'beta:hi' }]);
    await c.close();
    assert.ok(seen.some((h) => h.authorization === 'Bearer beta-upstream-secret'));
    assert.ok(!seen.some((h) => String(h.authorization).includes(key)), 'the caller key never goes upstream');
  });

  test('a guardrail created through the Admin API governs tools/call live; a model attachment never does', async () => {
    await until(['alpha__echo', 'beta__echo']);
    const c = new Client({ name: 'e2e', version: '1' });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${p.proxyUrl}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    const call = () =>
      c.callTool({ name: 'alpha__echo', arguments: { text: 'the code is delta-9' } }).then(
        (r) => r,
        (e: Error & { code?: number }) => e,
      );
    const g = await api.create('guardrails', {
      name: 'codes',
      kind: 'keyword',
      patterns: [{ kind: 'regex', value: '(?i)delta-[0-9]+' }],
    });
    const blocked = await waitUntil(
      'the guardrail applies',
      async () => {
        const r = await call();
        return r instanceof Error ? r : undefined;
      },
      { timeoutMs: 10_000, alive: [p] },
    );
    assert.equal(blocked.code, -32600);
    assert.match(blocked.message, /tool call blocked by content policy \(guardrail 'codes'\)/);
    // Attached to a model only: tool calls are no longer scanned.
    const pk = await api.create('provider_keys', {
      display_name: 'pk',
      provider: 'openai',
      api_key: 'sk-upstream',
      api_base: 'http://127.0.0.1:9/v1',
    });
    const m = await api.create('models', {
      display_name: 'm',
      provider: 'openai',
      model_name: 'gpt-4o-mini',
      provider_key_id: pk.id,
    });
    const a = await api.create('guardrail_attachments', {
      guardrail_id: g.id,
      scope_type: 'model',
      scope_id: m.id,
      priority: 1,
    });
    const passed = await waitUntil(
      'the model attachment takes the guardrail off tool calls',
      async () => {
        const r = await call();
        return r instanceof Error ? undefined : r;
      },
      { timeoutMs: 10_000, alive: [p] },
    );
    assert.deepEqual(passed.content, [{ type: 'text', text: 'alpha:the code is delta-9' }]);
    await c.close();
    await api.remove('guardrail_attachments', a.id);
    await api.remove('guardrails', g.id);
  });

  test('a policy and a disabled server apply live; the cleartext warning is logged once; not reported inert', async () => {
    await api.create('mcp_policies', { mode: 'all', scope: 'env', deny: ['alpha__*'] });
    await until(['beta__echo']);
    const r = await api.raw('PUT', `/mcp_servers/${betaId}`, {
      name: 'beta',
      url: upstreams[1]?.url,
      auth_type: 'bearer',
      secret: 'beta-upstream-secret',
      enabled: false,
    });
    assert.equal(r.status, 200, r.body);
    await until([]);
    const out = p.output();
    assert.equal(out.split('\n').filter((l) => l.includes('sent over cleartext http')).length, 1);
    assert.ok(!out.includes('beta-upstream-secret'), 'the stored secret is never logged');
    const inert = out.split('\n').filter((l) => l.includes('does not enforce yet'));
    assert.ok(
      inert.every((l) => !l.includes('mcp_')),
      inert.join('\n'),
    );
  });
});
