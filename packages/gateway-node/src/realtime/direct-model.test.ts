/**
 * agents-and-jobs §7.1 step 6: a realtime session needs a direct Model. Routing groups,
 * ensembles and semantic models are refused before the 101 with a 400 that says so (never a
 * misleading provider-key error from a later step), and the upstream is never dialled.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { buildSnapshot, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';

let upstream: Server;
let upgrades = 0;
let g: Started;

before(async () => {
  upstream = createServer((_q, s) => s.writeHead(404).end());
  upstream.on('upgrade', (_req, socket) => {
    upgrades++;
    socket.destroy();
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const docs = standardDocs(url, {
    models: {
      grp: { display_name: 'grp', routing: { strategy: 'failover', targets: [{ model: 'gpt-4o-mini' }] } },
      ens: {
        display_name: 'ens',
        ensemble: { panel: [{ model: 'gpt-4o-mini' }], judge: { model: 'gpt-4o-mini' } },
      },
      sem: {
        display_name: 'sem',
        semantic: {
          embedding_model: 'emb',
          default: 'gpt-4o-mini',
          match: { threshold: 0.5 },
          routes: [{ name: 'r', target: 'gpt-4o-mini', examples: ['x'] }],
        },
      },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
});

after(async () => {
  await g.gw.close();
  upstream.closeAllConnections();
  upstream.close();
});

async function refusal(model: string): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(`${g.base.replace('http:', 'ws:')}/v1/realtime?model=${model}`, {
    headers: { authorization: 'Bearer sk-all' },
  });
  ws.on('error', () => {});
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error(`${model}: the handshake was accepted`)));
    ws.once('unexpected-response', (_q, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

test('step 6: routing groups, ensembles and semantic models are refused 400 as not direct', async () => {
  for (const [model, phrase] of [
    ['grp', 'a routing group'],
    ['ens', 'an ensemble model'],
    ['sem', 'a semantic model'],
  ] as const) {
    const r = await refusal(model);
    assert.equal(r.status, 400, model);
    const err = (JSON.parse(r.body) as { error: { type: string; message: string } }).error;
    assert.equal(err.type, 'invalid_request_error', model);
    assert.match(err.message, /realtime sessions need a direct model/, model);
    assert.ok(err.message.includes(phrase), `${model}: ${err.message}`);
  }
  assert.equal(upgrades, 0, 'the upstream is never dialled');
});
