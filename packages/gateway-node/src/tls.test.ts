import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { selfSignedCert, type TestCert } from '@aisix/testkit';
import OpenAI from 'openai';
import { Agent, fetch as undiciFetch } from 'undici';
import { buildSnapshot, CALLER_KEY, type Started, standardDocs, startTestGateway } from './test/fixtures.js';
import { chatJson, chatSse, type MockUpstream, startMockUpstream } from './test/mock-upstream.js';

let up: MockUpstream;
let g: Started;
let cert: TestCert;
let trusting: Agent;

before(async () => {
  cert = selfSignedCert();
  up = await startMockUpstream(chatJson('over tls'));
  g = await startTestGateway(buildSnapshot(standardDocs(up.url)), undefined, {
    tls: { cert: cert.cert, key: cert.key },
  });
  trusting = new Agent({ connect: { ca: cert.cert } });
});

after(async () => {
  await g.gw.close();
  await up.close();
  await trusting.close();
});

test('proxy tls: the openai SDK talks HTTPS to the proxy with the test CA trusted', async () => {
  const client = new OpenAI({
    apiKey: CALLER_KEY,
    baseURL: `https://127.0.0.1:${g.gw.proxyPort}/v1`,
    maxRetries: 0,
    fetch: ((url: string, init: object) =>
      undiciFetch(url, { ...init, dispatcher: trusting })) as unknown as typeof fetch,
  });
  const r = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
  });
  assert.equal(r.choices[0]?.message.content, 'over tls');
  up.handle(chatSse({ words: ['a', 'b'] }));
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  assert.equal(text, 'ab');
});

test('proxy tls: plain HTTP is not served, and an untrusted client is refused', async () => {
  await assert.rejects(fetch(`http://127.0.0.1:${g.gw.proxyPort}/livez`));
  await assert.rejects(fetch(`https://127.0.0.1:${g.gw.proxyPort}/livez`));
  const ok = await undiciFetch(`https://127.0.0.1:${g.gw.proxyPort}/livez`, { dispatcher: trusting });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('server'), 'AISIX/1.2.3');
});
