/**
 * Remote guardrail vendors are called over the gateway's upstream agent, like the model path and
 * the other outbound clients: a vendor behind HTTPS with a self-signed CA is trusted through
 * `upstream.tls.ca_file`; without it the call cannot be made and the guardrail is bypassed
 * (fail_open) having never reached the vendor.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { selfSignedCert, type TestCert } from '@aisix/testkit';
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Docs,
  type Started,
  standardDocs,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { chatJson, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

let cert: TestCert;
let vendor: Server;
let up: MockUpstream;
let trusted: Started;
let untrusted: Started;
let calls = 0;

before(async () => {
  cert = selfSignedCert();
  vendor = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      calls++;
      const ok = req.url === '/v1/moderations' && req.headers.authorization === 'Bearer sk-mod-key';
      const input = ok ? String((JSON.parse(body) as { input?: unknown }).input) : '';
      const flagged = input.includes('violent');
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'modr-1',
          results: [
            { flagged, categories: { violence: flagged }, category_scores: { violence: flagged ? 0.9 : 0 } },
          ],
        }),
      );
    });
  });
  await new Promise<void>((r) => vendor.listen(0, '127.0.0.1', r));
  const endpoint = `https://127.0.0.1:${(vendor.address() as AddressInfo).port}/v1`;
  up = await startMockUpstream(chatJson('fine'));
  const docs = {
    ...standardDocs(up.url),
    guardrails: {
      g1: { name: 'mod', kind: 'openai_moderation', api_key: 'sk-mod-key', endpoint, hook_point: 'input' },
    },
  } as Docs;
  trusted = await startTestGateway(
    buildSnapshot(docs),
    testConfig({ upstream: { retries: 0, tls: { ca_file: cert.certFile } } }),
  );
  untrusted = await startTestGateway(buildSnapshot(docs));
});

after(async () => {
  await trusted.gw.close();
  await untrusted.gw.close();
  await up.close();
  vendor.closeAllConnections();
  await new Promise<void>((r) => vendor.close(() => r()));
});

const chat = (g: Started, content: string) =>
  new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 }).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content }],
  });

test('a vendor over HTTPS with a self-signed CA: scanned when upstream.tls trusts it, bypassed unreached when not', async () => {
  await assert.rejects(chat(trusted, 'something violent'), (e: { status?: number }) => e.status === 422);
  assert.equal(calls, 1);
  assert.equal((await chat(trusted, 'something calm')).choices[0]?.message.content, 'fine');
  assert.equal(calls, 2);
  // Not trusted: the TLS handshake fails, the guardrail fails open, the vendor never answers.
  assert.equal((await chat(untrusted, 'something violent')).choices[0]?.message.content, 'fine');
  assert.equal(calls, 2, 'the untrusted gateway never completed a request to the vendor');
});
