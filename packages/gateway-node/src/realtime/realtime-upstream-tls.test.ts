/**
 * The realtime relay's upstream WebSocket trusts what the provider key's pools trust
 * (data-plane §5.7; agents-and-jobs §1.2): against a `wss` upstream whose certificate is a
 * self-signed CA made by openssl for this run, a key with that CA in `tls.ca_cert` relays, a key
 * without it never reaches the upstream (TLS handshake refused), and `verify: false` relays.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { selfSignedCert, type TestCert } from '@aisix/testkit';
import { WebSocket, WebSocketServer } from 'ws';
import { buildSnapshot, type Docs, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';

const KEY = 'sk-all';

let cert: TestCert;
let https: Server;
let g: Started;
let upgrades = 0;

before(async () => {
  cert = selfSignedCert();
  const wss = new WebSocketServer({ noServer: true });
  https = createServer({ cert: cert.cert, key: cert.key }, (_q, s) => s.writeHead(404).end());
  https.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      upgrades++;
      ws.on('message', (data) => ws.send(`echo:${String(data)}`));
    }),
  );
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  const url = `https://localhost:${(https.address() as AddressInfo).port}`;
  const key = (id: string, tls: Record<string, unknown> | undefined) => ({
    display_name: id,
    api_key: 'sk-up',
    provider: 'openai',
    api_base: `${url}/v1`,
    ...(tls !== undefined ? { tls } : {}),
  });
  const model = (name: string, pk: string) => ({
    display_name: name,
    provider: 'openai',
    model_name: 'gpt-rt',
    provider_key_id: pk,
  });
  const docs: Docs = standardDocs(url, {
    provider_keys: {
      trusted: key('trusted', { ca_cert: cert.cert }),
      plain: key('plain', undefined),
      noverify: key('noverify', { verify: false }),
    },
    models: {
      rt_trusted: model('rt-trusted', 'trusted'),
      rt_plain: model('rt-plain', 'plain'),
      rt_noverify: model('rt-noverify', 'noverify'),
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
});

after(async () => {
  await g.gw.close();
  https.closeAllConnections();
  https.close();
});

/** Opens a session on `model`, sends one frame; the echo, or the close code when none came. */
async function roundTrip(model: string): Promise<{ echo?: string; code?: number }> {
  const ws = new WebSocket(`${g.base.replace('http:', 'ws:')}/v1/realtime?model=${model}`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  ws.send('ping');
  return await new Promise((r) => {
    ws.once('message', (d) => {
      r({ echo: String(d) });
      ws.close(1000);
    });
    ws.once('close', (code) => r({ code }));
  });
}

test('a key whose tls.ca_cert holds the upstream CA relays over wss', async () => {
  const before = upgrades;
  assert.deepEqual(await roundTrip('rt-trusted'), { echo: 'echo:ping' });
  assert.equal(upgrades, before + 1);
});

test('a key without the CA is refused by the TLS handshake: the upstream is never upgraded', async () => {
  const before = upgrades;
  const ws = new WebSocket(`${g.base.replace('http:', 'ws:')}/v1/realtime?model=rt-plain`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  const frames: string[] = [];
  ws.on('message', (d) => frames.push(String(d)));
  const code = await new Promise<number>((r) => ws.once('close', (c) => r(c)));
  assert.equal(code, 1011);
  assert.equal(frames.length, 1);
  const err = JSON.parse(frames[0] as string) as { type: string; error: { type: string } };
  assert.equal(err.type, 'error');
  assert.equal(err.error.type, 'upstream_error');
  assert.equal(upgrades, before);
});

test('verify: false relays', async () => {
  assert.deepEqual(await roundTrip('rt-noverify'), { echo: 'echo:ping' });
});
