/**
 * data-plane §13 items 7 and 8 (downstream-connection, upstream-pool-idle): an idle client
 * connection is closed after `downstream.idle_timeout_secs` but an in-flight request is never
 * cut; `:` heartbeats flow on bridged `/v1/messages` and verbatim `/v1/responses` streams while
 * the model is silent; an upstream connection idle longer than `pool_idle_timeout_secs` is not
 * reused, and with the knob off it is.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, test } from 'node:test';
import {
  buildSnapshot,
  CALLER_KEY,
  type Started,
  standardDocs,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { responsesSse } from '../test/mock-responses.js';
import { chatJson, chatSse, type MockUpstream, sleep, startMockUpstream } from '../test/mock-upstream.js';

let up: MockUpstream;
let g: Started;

before(async () => {
  up = await startMockUpstream(chatJson());
  g = await startTestGateway(
    buildSnapshot(standardDocs(up.url)),
    testConfig({ downstream: { idle_timeout_secs: 1, sse_keepalive_interval_secs: 1 } }),
  );
});

after(async () => {
  await g.gw.close();
  await up.close();
});

const chatBody = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...extra });

test('downstream.idle_timeout_secs: an idle keep-alive connection is closed after about 1 s', async () => {
  const port = Number(new URL(g.base).port);
  const sock = connect(port, '127.0.0.1');
  let got = '';
  sock.on('data', (d: Buffer) => {
    got += d.toString();
  });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write('GET /livez HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n\r\n');
  const t0 = Date.now();
  await new Promise<void>((r) => sock.once('close', () => r()));
  const idleMs = Date.now() - t0;
  assert.match(got, /^HTTP\/1\.1 200/);
  assert.ok(idleMs >= 800 && idleMs < 4000, `closed after ${idleMs} ms`);
});

test('downstream.idle_timeout_secs: a request slower than the idle timeout is not interrupted', async () => {
  up.handle(async (req, res) => {
    await sleep(2200);
    chatJson('slow but whole')(req, res);
  });
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: chatBody(),
  });
  assert.equal(r.status, 200);
  const j = (await r.json()) as { choices: { message: { content: string } }[] };
  assert.equal(j.choices[0]?.message.content, 'slow but whole');
});

test('heartbeats on a bridged /v1/messages stream (OpenAI upstream) while the model is silent', async () => {
  up.handle(chatSse({ words: ['late'], firstDelayMs: 2300 }));
  const r = await fetch(`${g.base}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': CALLER_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      max_tokens: 16,
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    }),
  });
  assert.equal(r.status, 200);
  const raw = await r.text();
  const beats = raw.split(':\n\n').length - 1;
  assert.ok(beats >= 1, `expected a heartbeat, got ${beats}: ${raw.slice(0, 200)}`);
  assert.ok(raw.includes('late'));
  assert.ok(raw.trimEnd().endsWith('data: {"type":"message_stop"}'));
});

test('heartbeats on a verbatim /v1/responses stream while the model is silent', async () => {
  up.handle(responsesSse(['a', 'b'], 1300));
  const r = await fetch(`${g.base}/v1/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', input: 'hi', stream: true }),
  });
  assert.equal(r.status, 200);
  const raw = await r.text();
  const beats = raw.split(':\n\n').length - 1;
  assert.ok(beats >= 2, `expected heartbeats, got ${beats}`);
  assert.ok(raw.includes('response.completed'));
});

/** An upstream that answers chat and records the client port of each request's connection. */
async function portRecorder(): Promise<{ url: string; ports: number[]; server: Server }> {
  const ports: number[] = [];
  const server = createServer((req, res) => {
    ports.push(req.socket.remotePort ?? 0);
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({
        id: 'x',
        object: 'chat.completion',
        created: 1,
        model: 'm',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, ports, server };
}

for (const [knob, reuse] of [
  [1, false],
  [0, true],
] as const) {
  test(`upstream.pool_idle_timeout_secs: ${knob}: a connection idle for 1.6 s is ${reuse ? '' : 'not '}reused`, async () => {
    const rec = await portRecorder();
    const gw = await startTestGateway(
      buildSnapshot(standardDocs(rec.url)),
      testConfig({ upstream: { retries: 0, pool_idle_timeout_secs: knob } }),
    );
    try {
      const call = async () => {
        const r = await fetch(`${gw.base}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
          body: chatBody(),
        });
        assert.equal(r.status, 200);
        await r.text();
      };
      await call();
      await call();
      assert.equal(rec.ports[0], rec.ports[1], 'back-to-back requests share the pooled connection');
      await sleep(1600);
      await call();
      if (reuse) assert.equal(rec.ports[2], rec.ports[0]);
      else assert.notEqual(rec.ports[2], rec.ports[0]);
    } finally {
      await gw.gw.close();
      rec.server.closeAllConnections();
      await new Promise((r) => rec.server.close(r));
    }
  });
}
