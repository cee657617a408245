/**
 * agents-and-jobs §7.3: an upstream that accepts the connection but never answers the
 * handshake is a connect failure once the handshake deadline (the Model's stream budget) passes:
 * the client gets the `upstream_error` frame and 1011, the session is a 502. The idle budget only
 * runs once the upstream is open, so it cannot turn that failure into a 1001 `idle timeout` / 504.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { buildSnapshot, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import { collectingSink } from '../test/usage-sink.js';

let upstream: Server;
const hung: Duplex[] = [];
let g: Started;
const sink = collectingSink();
const events = sink.events;

before(async () => {
  upstream = createServer((_q, s) => s.writeHead(404).end());
  // Reads the handshake and never answers it.
  upstream.on('upgrade', (_req, socket) => {
    hung.push(socket);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const docs = standardDocs(url, {
    models: {
      rt: {
        display_name: 'rt',
        provider: 'openai',
        model_name: 'gpt-rt',
        provider_key_id: 'pk1',
        timeout: 300,
      },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
  g.gw.usage.attach(sink);
});

after(async () => {
  await g.gw.close();
  for (const s of hung) s.destroy();
  upstream.closeAllConnections();
  upstream.close();
});

test('a handshake the upstream never answers: the error frame, 1011, status 502 (not an idle timeout)', async () => {
  const ws = new WebSocket(`${g.base.replace('http:', 'ws:')}/v1/realtime?model=rt`, {
    headers: { authorization: 'Bearer sk-all' },
  });
  const frames: string[] = [];
  ws.on('message', (d) => frames.push(d.toString()));
  const [code] = await new Promise<[number, string]>((r) =>
    ws.on('close', (c, reason) => r([c, reason.toString()])),
  );
  assert.equal(code, 1011);
  assert.deepEqual(
    frames.map((f) => JSON.parse(f)),
    [
      {
        type: 'error',
        error: { type: 'upstream_error', message: 'failed to connect to the upstream realtime endpoint' },
      },
    ],
  );
  const deadline = Date.now() + 5000;
  const find = () => events.find((x) => x.endpoint === '/v1/realtime');
  while (find() === undefined) {
    assert.ok(Date.now() < deadline, 'no usage event');
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(find()?.status_code, 502);
});
