/**
 * Deployment-wide `upstream.tls` (files read by the CLI, handed in as PEM) against a real local
 * HTTPS upstream that requires a client certificate: its CA is trusted for keys without `tls`,
 * the client certificate is presented on the shared pool and on a key's dedicated pool (whose
 * own `ca_cert` adds to the deployment CA), and without the client certificate the handshake
 * fails (502 `transport_error`).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { selfSignedCert, type TestCert } from '@aisix/testkit';
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Docs,
  type Started,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';

let server: TestCert;
let client: TestCert;
let other: TestCert;
let upstream: Server;
let withClientCert: Started;
let withoutClientCert: Started;
let peers: string[] = [];

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function docs(base: string): Docs {
  const pk = { api_key: 'sk-up', provider: 'openai', api_base: `${base}/v1` };
  return {
    provider_keys: {
      plain: { display_name: 'plain', ...pk },
      own: { display_name: 'own', ...pk, tls: { ca_cert: other.cert } },
    },
    models: {
      a: { display_name: 'shared-pool', provider: 'openai', model_name: 'up', provider_key_id: 'plain' },
      b: { display_name: 'own-pool', provider: 'openai', model_name: 'up', provider_key_id: 'own' },
    },
    api_keys: { k: { key_hash: sha(CALLER_KEY), allowed_models: ['*'] } },
  };
}

before(async () => {
  server = selfSignedCert();
  client = selfSignedCert();
  other = selfSignedCert();
  upstream = createServer(
    { cert: server.cert, key: server.key, requestCert: true, rejectUnauthorized: true, ca: [client.cert] },
    (req, res) => {
      peers.push(String((req.socket as TLSSocket).authorized));
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'c',
            object: 'chat.completion',
            created: 1,
            model: 'up',
            choices: [{ index: 0, message: { role: 'assistant', content: 'mtls' }, finish_reason: 'stop' }],
          }),
        );
      });
    },
  );
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const snapshot = buildSnapshot(docs(`https://127.0.0.1:${(upstream.address() as AddressInfo).port}`));
  withClientCert = await startTestGateway(snapshot, testConfig(), {
    upstreamTls: { ca: [server.cert], cert: client.cert, key: client.key, verify: true },
  });
  withoutClientCert = await startTestGateway(snapshot, testConfig(), {
    upstreamTls: { ca: [server.cert], verify: true },
  });
});

after(async () => {
  await withClientCert.gw.close();
  await withoutClientCert.gw.close();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

const ask = (g: Started, model: string) =>
  new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 }).chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'hi' }],
  });

test('the deployment CA and client certificate apply to the shared pool and to a key pool', async () => {
  peers = [];
  assert.equal((await ask(withClientCert, 'shared-pool')).choices[0]?.message.content, 'mtls');
  assert.equal((await ask(withClientCert, 'own-pool')).choices[0]?.message.content, 'mtls');
  assert.deepEqual(peers, ['true', 'true']);
});

test('without the client certificate the upstream refuses the handshake: 502 transport_error', async () => {
  await assert.rejects(ask(withoutClientCert, 'shared-pool'), (e: unknown) => {
    assert.ok(e instanceof OpenAI.APIError);
    assert.equal(e.status, 502);
    assert.equal((e.error as { type?: string }).type, 'transport_error');
    return true;
  });
});
