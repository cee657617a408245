/**
 * agents-and-jobs §7.4: the idle budget ends a session only after "no frame in either direction"
 * for the Model's stream budget. Ping and pong are frames (RFC 6455 §5.5): a client or an
 * upstream that keeps the connection alive with pings alone keeps the session open; once they
 * stop, the idle timeout still ends it (1001 `idle timeout`).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { buildSnapshot, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';

const IDLE_MS = 400;

let http: Server;
let g: Started;
/** Upstream sessions, by the upstream model id they were opened for. */
const upstreams: { model: string; ws: WebSocket }[] = [];

before(async () => {
  const wss = new WebSocketServer({ noServer: true });
  http = createServer((_q, s) => s.writeHead(404).end());
  http.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      const model = new URL(req.url ?? '/', 'http://x').searchParams.get('model') ?? '';
      upstreams.push({ model, ws });
      // `gpt-rt-pinging`: the upstream keeps the connection alive with pings only.
      if (model === 'gpt-rt-pinging') {
        const iv = setInterval(() => ws.ping(), IDLE_MS / 4);
        ws.on('close', () => clearInterval(iv));
      }
    }),
  );
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const rt = (model: string) => ({
    display_name: model,
    provider: 'openai',
    model_name: `gpt-${model}`,
    provider_key_id: 'pk1',
    stream_timeout: IDLE_MS,
  });
  g = await startTestGateway(
    buildSnapshot(standardDocs(url, { models: { a: rt('rt'), b: rt('rt-pinging') } })),
  );
});

after(async () => {
  await g.gw.close();
  for (const u of upstreams) u.ws.terminate();
  http.closeAllConnections();
  http.close();
});

async function open(model: string): Promise<{ ws: WebSocket; closed: Promise<[number, string]> }> {
  const ws = new WebSocket(`${g.base.replace('http:', 'ws:')}/v1/realtime?model=${model}`, {
    headers: { authorization: 'Bearer sk-all' },
  });
  const closed = new Promise<[number, string]>((r) =>
    ws.on('close', (c, reason) => r([c, reason.toString()])),
  );
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  return { ws, closed };
}

const stillOpenAfter = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<'open'>((r) => setTimeout(() => r('open'), ms))]);

test('a client that only pings is not idle; once it stops, the idle timeout ends the session', async () => {
  const { ws, closed } = await open('rt');
  const iv = setInterval(() => ws.ping(), IDLE_MS / 4);
  try {
    assert.equal(await stillOpenAfter(closed, IDLE_MS * 3), 'open');
  } finally {
    clearInterval(iv);
  }
  assert.deepEqual(await closed, [1001, 'idle timeout']);
});

test('an upstream that only pings keeps the session open', async () => {
  const { ws, closed } = await open('rt-pinging');
  assert.equal(await stillOpenAfter(closed, IDLE_MS * 3), 'open');
  ws.close(1000, 'done');
  assert.deepEqual(await closed, [1000, 'done']);
});
