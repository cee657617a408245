/**
 * The raw tunnel and per-key TLS end to end (issue 12): one `aisix --role all` process on its
 * embedded store, everything configured through the Admin API. The official openai and
 * Anthropic SDKs use `/passthrough/<provider>` as their base URL and reach local upstreams with
 * the provider key's credential (never the caller's); bad input gets the gateway's envelope.
 * A provider key's `tls.ca_cert` makes a real HTTPS upstream with a self-signed CA reachable
 * (unary and streamed), an untrusted one is 502, `verify: false` works, all applied live.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { selfSignedCert } from '@aisix/testkit';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import {
  AdminClient,
  type AisixProcess,
  killAll,
  removeDir,
  startAisix,
  statusConfig,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

interface Seen {
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
}

const completion = (content: string) => ({
  id: 'chatcmpl-pt',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-up',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 },
});

/** OpenAI chat (JSON or SSE) and Anthropic messages, recording what arrived. */
function upstreamHandler(seen: Seen[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { stream?: boolean };
      if (req.url === '/v1/messages') {
        res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_up' });
        res.end(
          JSON.stringify({
            id: 'msg_1',
            type: 'message',
            role: 'assistant',
            model: 'claude-up',
            content: [{ type: 'text', text: 'hello from claude' }],
            stop_reason: 'end_turn',
            stop_sequence: null,
            usage: { input_tokens: 3, output_tokens: 4 },
          }),
        );
        return;
      }
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const word of ['str', 'eam']) {
          const c = { ...completion(''), object: 'chat.completion.chunk', choices: [] as unknown[] };
          c.choices = [{ index: 0, delta: { content: word }, finish_reason: null }];
          res.write(`data: ${JSON.stringify(c)}\n\n`);
        }
        res.end('data: [DONE]\n\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(completion('pong')));
    });
  };
}

describe('passthrough and provider-key TLS through the Admin API (--role all)', () => {
  const dir = tempDir('passthrough');
  const seen: Seen[] = [];
  const cert = selfSignedCert();
  const plain = createServer(upstreamHandler(seen));
  const secure = createHttps({ cert: cert.cert, key: cert.key }, upstreamHandler(seen));
  let aisix: AisixProcess;
  let api: AdminClient;
  let caller = '';
  let narrow = '';
  let tlsKeyId = '';

  const applied = (revision: number) =>
    waitUntil(
      `revision ${revision} applied`,
      async () => ((await statusConfig(aisix)).applied?.applied_revision ?? 0) >= revision || undefined,
      { timeoutMs: 10_000, intervalMs: 10, alive: [aisix] },
    );

  const put = async (path: string, body: unknown) => {
    const r = await api.raw('PUT', path, body);
    assert.equal(r.status, 200, r.body);
    await applied((JSON.parse(r.body) as { revision: number }).revision);
  };

  before(async () => {
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
    const plainBase = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
    const secureBase = `https://127.0.0.1:${(secure.address() as AddressInfo).port}/v1`;
    aisix = await startAisix({ name: 'all', dir, role: 'all' });
    await waitStatus(aisix, `${aisix.adminUrl}/readyz`, 200);
    await waitStatus(aisix, `${aisix.proxyUrl}/readyz`, 200);
    api = new AdminClient(aisix.adminUrl);
    const oa = await api.create('provider_keys', {
      display_name: 'oa',
      provider: 'openai',
      api_key: 'sk-upstream-openai',
      api_base: `${plainBase}/v1`,
    });
    const an = await api.create('provider_keys', {
      display_name: 'an',
      provider: 'anthropic',
      api_key: 'sk-ant-upstream',
      api_base: plainBase,
    });
    const tk = await api.create('provider_keys', {
      display_name: 'tls',
      adapter: 'openai',
      api_key: 'sk-upstream-tls',
      api_base: secureBase,
      tls: { ca_cert: cert.cert },
    });
    tlsKeyId = tk.id;
    const model = (name: string, provider: string, pk: string) =>
      api.create('models', { display_name: name, provider, model_name: `${name}-up`, provider_key_id: pk });
    await model('gpt', 'openai', oa.id);
    await model('claude', 'anthropic', an.id);
    await model('secure', 'vllm', tk.id);
    narrow = String((await api.create('api_keys', { display_name: 'n', allowed_models: ['gpt'] })).plaintext);
    const last = await api.create('api_keys', { display_name: 'all', allowed_models: ['*'] });
    caller = String(last.plaintext);
    await applied(last.revision);
  });

  after(async () => {
    await killAll([aisix]);
    plain.closeAllConnections();
    secure.closeAllConnections();
    plain.close();
    secure.close();
    removeDir(dir);
  });

  const openaiVia = (base: string, key = caller) =>
    new OpenAI({ apiKey: key, baseURL: `${aisix.proxyUrl}${base}`, maxRetries: 0 });

  test('the openai SDK through /passthrough/openai/v1: unary and streamed, the key credential only', async () => {
    const client = openaiVia('/passthrough/openai/v1');
    const r = await client.chat.completions.create({
      model: 'gpt-up',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(r.choices[0]?.message.content, 'pong');
    assert.equal(seen.at(-1)?.url, '/v1/chat/completions');
    assert.equal(seen.at(-1)?.headers.authorization, 'Bearer sk-upstream-openai');
    const stream = await client.chat.completions.create({
      model: 'gpt-up',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    assert.equal(text, 'stream');
    assert.ok(!JSON.stringify(seen).includes(caller), 'the caller key never reaches an upstream');
  });

  test('the Anthropic SDK through /passthrough/anthropic: x-api-key of the provider key', async () => {
    const client = new Anthropic({
      apiKey: caller,
      baseURL: `${aisix.proxyUrl}/passthrough/anthropic`,
      maxRetries: 0,
    });
    const m = await client.messages.create({
      model: 'claude-up',
      max_tokens: 16,
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.deepEqual(m.content, [{ type: 'text', text: 'hello from claude' }]);
    assert.equal(seen.at(-1)?.headers['x-api-key'], 'sk-ant-upstream');
    // The SDK's own API version is kept (the gateway's default only fills a missing one).
    assert.match(String(seen.at(-1)?.headers['anthropic-version']), /^\d{4}-\d{2}-\d{2}$/);
  });

  test('bad input: unknown provider 404 and an ACL refusal 403, in the OpenAI envelope', async () => {
    const ask = (client: OpenAI) =>
      client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(ask(openaiVia('/passthrough/nosuch/v1')), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError);
      assert.equal((e.error as { type?: string }).type, 'not_found');
      return true;
    });
    await assert.rejects(ask(openaiVia('/passthrough/anthropic', narrow)), (e: unknown) => {
      assert.ok(e instanceof OpenAI.PermissionDeniedError);
      assert.equal((e.error as { type?: string }).type, 'permission_denied');
      return true;
    });
  });

  test('provider-key TLS: trusted CA works (unary, stream), untrusted is 502, verify:false works, live', async () => {
    const client = openaiVia('/v1');
    const ask = () =>
      client.chat.completions.create({ model: 'secure', messages: [{ role: 'user', content: 'x' }] });
    assert.equal((await ask()).choices[0]?.message.content, 'pong');
    assert.equal(seen.at(-1)?.headers.authorization, 'Bearer sk-upstream-tls');
    const stream = await client.chat.completions.create({
      model: 'secure',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    assert.equal(text, 'stream');

    const base = { display_name: 'tls', adapter: 'openai', api_key: 'sk-upstream-tls' };
    const api_base = `https://127.0.0.1:${(secure.address() as AddressInfo).port}/v1`;
    await put(`/provider_keys/${tlsKeyId}`, { ...base, api_base });
    await assert.rejects(ask(), (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError);
      assert.equal(e.status, 502);
      assert.equal((e.error as { type?: string }).type, 'transport_error');
      return true;
    });
    await put(`/provider_keys/${tlsKeyId}`, { ...base, api_base, tls: { verify: false } });
    assert.equal((await ask()).choices[0]?.message.content, 'pong');

    const bad = await api.raw('PUT', `/provider_keys/${tlsKeyId}`, {
      ...base,
      api_base,
      tls: { ca_cert: 'nope' },
    });
    assert.equal(bad.status, 400, bad.body);
    assert.match(bad.body, /tls\.ca_cert must hold one or more PEM certificates/);
  });
});
