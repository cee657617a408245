/**
 * Realtime sessions in the usage events (agents-and-jobs §7.5, §1.4), through a started gateway
 * and a `ws` upstream: one event per session with `inbound_protocol: realtime`, the tokens of
 * `response.done` and token-typed transcriptions, the cost from the model's `cost`, and a refused
 * handshake as an error event.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { buildSnapshot, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';

/** The fixtures' key allowed every model. */
const KEY = 'sk-all';

import { collectingSink } from '../test/usage-sink.js';
import type { UsageEvent } from '../usage/events.js';

let http: Server;
let g: Started;
const sink = collectingSink();
const events = sink.events;

before(async () => {
  const wss = new WebSocketServer({ noServer: true });
  http = createServer((_q, s) => s.writeHead(404).end());
  http.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', () => {
        ws.send(
          JSON.stringify({
            type: 'conversation.item.input_audio_transcription.completed',
            usage: { type: 'tokens', input_tokens: 5, output_tokens: 2 },
          }),
        );
        ws.send(
          JSON.stringify({
            type: 'response.done',
            response: {
              usage: { input_tokens: 1000, output_tokens: 2000, input_token_details: { cached_tokens: 40 } },
            },
          }),
        );
      });
    }),
  );
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const docs = standardDocs(url, {
    models: {
      rt: {
        display_name: 'rt',
        provider: 'openai',
        model_name: 'gpt-rt',
        provider_key_id: 'pk1',
        cost: { input_per_1k: 0.5, output_per_1k: 1.5 },
      },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
  g.gw.usage.attach(sink);
});

after(async () => {
  await g.gw.close();
  http.closeAllConnections();
  http.close();
});

async function eventsWhere(pred: (e: UsageEvent) => boolean): Promise<UsageEvent[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const got = events.filter(pred);
    if (got.length > 0) return got;
    assert.ok(Date.now() < deadline, 'no usage event');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a session: one event with its tokens, cost and inbound_protocol realtime', async () => {
  const ws = new WebSocket(`${g.base.replace('http:', 'ws:')}/v1/realtime?model=rt`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  let frames = 0;
  const two = new Promise<void>((r) =>
    ws.on('message', () => {
      if (++frames === 2) r();
    }),
  );
  ws.send(JSON.stringify({ type: 'response.create' }));
  await two;
  ws.close(1000);
  const [e, ...rest] = await eventsWhere((x) => x.endpoint === '/v1/realtime' && x.status_code === 200);
  assert.equal(rest.length, 0);
  assert.ok(e);
  assert.equal(e.inbound_protocol, 'realtime');
  assert.equal(e.requested_model, 'rt');
  assert.equal(e.prompt_tokens, 1005);
  assert.equal(e.completion_tokens, 2002);
  assert.equal(e.cached_prompt_tokens, 40);
  // 1005/1000 * 0.5 + 2002/1000 * 1.5, rounded to 1e-9 USD.
  assert.equal(e.cost_usd, 3.5055);
  assert.equal(e.attempt_model, 'gpt-rt');
  assert.equal(e.provider_kind, 'openai');
});

test('a refused handshake is an error event of the realtime surface', async () => {
  const ws = new WebSocket(`${g.base.replace('http:', 'ws:')}/v1/realtime?model=missing`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  const status = await new Promise<number>((r) =>
    ws.on('unexpected-response', (_q, res) => r(res.statusCode ?? 0)),
  );
  ws.on('error', () => {});
  ws.terminate();
  assert.equal(status, 404);
  const [e] = await eventsWhere((x) => x.endpoint === '/v1/realtime' && x.status_code === 404);
  assert.equal(e?.inbound_protocol, 'realtime');
  assert.equal(e?.error_class, 'model_not_found');
  assert.equal(e?.prompt_tokens, 0);
});
