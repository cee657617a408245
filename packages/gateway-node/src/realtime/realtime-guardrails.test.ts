/**
 * Guardrails on realtime frames use the model pipeline's compiled plans, so the deployment's
 * settings reach them: a `kind: bedrock` guardrail without its own `endpoint` calls
 * config.yaml's `bedrock_endpoint_url` (not the regional AWS host, unreachable here), and a
 * frame it intervenes on is not relayed.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import {
  buildSnapshot,
  type Docs,
  type Started,
  standardDocs,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { bedrockGuardrailDoc, bedrockGuardrailVendor } from '../test/mock-bedrock-guardrail.js';
import { type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

/** The fixtures' key allowed every model. */
const KEY = 'sk-all';

let http: Server;
let bedrock: MockUpstream;
let g: Started;
/** Text frames the upstream received. */
const relayed: string[] = [];

before(async () => {
  const wss = new WebSocketServer({ noServer: true });
  http = createServer((_q, s) => s.writeHead(404).end());
  http.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (m) => {
        relayed.push(m.toString());
        ws.send(JSON.stringify({ type: 'response.done', response: {} }));
      });
    }),
  );
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  bedrock = await startMockUpstream(bedrockGuardrailVendor);
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const docs = {
    ...standardDocs(url, {
      models: {
        rt: { display_name: 'rt', provider: 'openai', model_name: 'gpt-rt', provider_key_id: 'pk1' },
      },
    }),
    guardrails: { r1: bedrockGuardrailDoc() },
  } as Docs;
  g = await startTestGateway(buildSnapshot(docs), testConfig({ bedrock_endpoint_url: `${bedrock.url}/` }));
});

after(async () => {
  await g.gw.close();
  await bedrock.close();
  http.closeAllConnections();
  http.close();
});

test('a realtime frame is judged by a bedrock guardrail at bedrock_endpoint_url; an intervened one is not relayed', async () => {
  const ws = new WebSocket(`${g.base.replace('http:', 'ws:')}/v1/realtime?model=rt`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  const frames: string[] = [];
  ws.on('message', (m) => frames.push(m.toString()));
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  const ok = JSON.stringify({ type: 'conversation.item.create', item: { content: [{ text: 'hello' }] } });
  ws.send(ok);
  const deadline = Date.now() + 5000;
  while (frames.length === 0) {
    assert.ok(Date.now() < deadline, 'no answer to the allowed frame');
    await new Promise((r) => setTimeout(r, 10));
  }
  const bad = JSON.stringify({
    type: 'conversation.item.create',
    item: { content: [{ text: 'forbidden' }] },
  });
  ws.send(bad);
  const timeout = new Promise<number>((_r, j) =>
    setTimeout(() => j(new Error('the session was not closed')), 5000).unref(),
  );
  assert.equal(await Promise.race([closed, timeout]), 1011);
  assert.deepEqual(relayed, [ok]);
  assert.equal(bedrock.requests.length, 2, 'both frames were judged at bedrock_endpoint_url');
  const err = JSON.parse(frames[frames.length - 1] as string) as { type: string; error: { code: string } };
  assert.equal(err.type, 'error');
  assert.equal(err.error.code, 'content_filtered');
});
