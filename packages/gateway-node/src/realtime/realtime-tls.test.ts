/**
 * The `upgrade` path on an HTTPS proxy listener (`proxy.tls`): a `wss:` realtime session relays,
 * and an upgrade request on another path goes back to the HTTP parser through the TLS socket and
 * is answered as plain HTTP/1.1.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { connect } from 'node:tls';
import { selfSignedCert, type TestCert } from '@aisix/testkit';
import { WebSocket, WebSocketServer } from 'ws';
import { buildSnapshot, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';

const KEY = 'sk-all';
let upstream: Server;
let g: Started;
let cert: TestCert;

before(async () => {
  cert = selfSignedCert();
  const wss = new WebSocketServer({ noServer: true });
  upstream = createServer((_q, s) => s.writeHead(404).end());
  upstream.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d, binary) => ws.send(d, { binary }))),
  );
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const docs = standardDocs(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, {
    models: { rt: { display_name: 'rt', provider: 'openai', model_name: 'gpt-rt', provider_key_id: 'pk1' } },
  });
  g = await startTestGateway(buildSnapshot(docs), undefined, { tls: { cert: cert.cert, key: cert.key } });
});

after(async () => {
  await g.gw.close();
  upstream.closeAllConnections();
  upstream.close();
});

test('wss: a session over the TLS listener relays both ways', async () => {
  const ws = new WebSocket(`wss://127.0.0.1:${g.gw.proxyPort}/v1/realtime?model=rt`, {
    headers: { authorization: `Bearer ${KEY}` },
    ca: cert.cert,
  });
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  const back = new Promise<Buffer>((r) => ws.once('message', (d) => r(d as Buffer)));
  ws.send(Buffer.from([1, 2, 3]));
  assert.deepEqual(await back, Buffer.from([1, 2, 3]));
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  ws.close(4005);
  assert.equal(await closed, 4005);
});

test('an h2c upgrade request on another path is served as plain HTTP over TLS', async () => {
  const out = await new Promise<string>((resolve, reject) => {
    const s = connect(
      { host: '127.0.0.1', port: g.gw.proxyPort, ca: cert.cert, servername: 'localhost' },
      () =>
        s.write(
          `GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n`,
        ),
    );
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    s.on('error', reject);
    s.on('close', () => resolve(text));
  });
  assert.match(out, /^HTTP\/1\.1 200 /);
  assert.match(out, /"rt"/);
});
