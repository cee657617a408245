/**
 * Per-provider-key TLS (`provider_keys.tls`) against a real local HTTPS upstream whose
 * certificate is a self-signed CA made by openssl for this run: trusted through `ca_cert` the
 * call works (unary and streamed, one kept-alive TLS connection reused), without it the
 * handshake fails with the catalogue's 502 `transport_error`, `verify: false` works, a key's
 * setting never leaks to another key on the same host, and a change in the store applies live.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { selfSignedCert, type TestCert } from '@aisix/testkit';
import OpenAI from 'openai';
import { buildSnapshot, CALLER_KEY, type Docs, type Started, startTestGateway } from '../test/fixtures.js';

let cert: TestCert;
let other: TestCert;
let upstream: Server;
let upstreamUrl = '';
let handshakes = 0;
let g: Started;
let openai: OpenAI;
let rev = 1;

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function answer(req: IncomingMessage, res: ServerResponse): void {
  let body = '';
  req.on('data', (c: Buffer) => {
    body += c.toString('utf8');
  });
  req.on('end', () => {
    const stream = (JSON.parse(body) as { stream?: boolean }).stream === true;
    if (stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [] };
      const delta = (content: string, finish: string | null) => ({
        ...chunk,
        choices: [{ index: 0, delta: { content }, finish_reason: finish }],
      });
      res.write(`data: ${JSON.stringify(delta('sec', null))}\n\n`);
      res.write(`data: ${JSON.stringify(delta('ure', 'stop'))}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'c1',
        object: 'chat.completion',
        created: 1,
        model: 'up',
        choices: [{ index: 0, message: { role: 'assistant', content: 'secure' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
      }),
    );
  });
}

function docs(tls1: unknown, tls2: unknown = null): Docs {
  const pk = (tls: unknown) => ({
    display_name: 'https-up',
    api_key: 'sk-upstream',
    provider: 'openai',
    api_base: `${upstreamUrl}/v1`,
    ...(tls === null ? {} : { tls }),
  });
  return {
    provider_keys: { pk1: pk(tls1), pk2: { ...pk(tls2), display_name: 'https-up-2' } },
    models: {
      m1: { display_name: 'secure', provider: 'openai', model_name: 'up', provider_key_id: 'pk1' },
      m2: { display_name: 'plain', provider: 'openai', model_name: 'up', provider_key_id: 'pk2' },
    },
    api_keys: { k1: { key_hash: sha(CALLER_KEY), allowed_models: ['*'] } },
  };
}

function apply(tls1: unknown, tls2: unknown = null): void {
  g.source.set(buildSnapshot(docs(tls1, tls2), ++rev));
}

before(async () => {
  cert = selfSignedCert();
  other = selfSignedCert();
  upstream = createServer({ cert: cert.cert, key: cert.key }, answer);
  upstream.on('secureConnection', () => {
    handshakes++;
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  g = await startTestGateway(buildSnapshot(docs({ ca_cert: cert.cert }), rev));
  openai = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

const ask = (model: string) =>
  openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });

async function refusal(model: string): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await ask(model);
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError);
    return e;
  }
  assert.fail('the call should have failed');
}

test('ca_cert trusts the upstream: unary and streamed calls work over one kept-alive connection', async () => {
  apply({ ca_cert: cert.cert });
  const before = handshakes;
  for (let i = 0; i < 3; i++) assert.equal((await ask('secure')).choices[0]?.message.content, 'secure');
  const stream = await openai.chat.completions.create({
    model: 'secure',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  assert.equal(text, 'secure');
  assert.equal(handshakes - before, 1, 'the dedicated pool reuses its TLS connection');
});

test('an untrusted certificate fails the handshake: 502 transport_error, and only for that key', async () => {
  // pk1 still trusts the CA; pk2 (same host, no tls) uses the system roots.
  const e = await refusal('plain');
  assert.equal(e.status, 502);
  assert.equal((e.error as { type?: string }).type, 'transport_error');
  assert.equal((e.error as { message?: string }).message, 'transport error: could not reach the upstream');
  assert.equal((await ask('secure')).choices[0]?.message.content, 'secure');
});

test('a CA that did not sign the upstream certificate is refused too', async () => {
  apply({ ca_cert: other.cert });
  assert.equal((await refusal('secure')).status, 502);
});

test('verify: false accepts the certificate; applied live, and turned off again live', async () => {
  apply({ ca_cert: other.cert }, { verify: false });
  assert.equal((await ask('plain')).choices[0]?.message.content, 'secure');
  apply({ ca_cert: cert.cert }, null);
  assert.equal((await refusal('plain')).status, 502);
  assert.equal((await ask('secure')).choices[0]?.message.content, 'secure');
});

test('a ca_cert that does not parse (stored around the Admin API) fails closed', async () => {
  apply({ ca_cert: 'not a certificate' });
  assert.equal((await refusal('secure')).status, 502);
});
