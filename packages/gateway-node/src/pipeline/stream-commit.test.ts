/**
 * Streams and target health around the commit point (data-plane §6.5, §8.6), through a started
 * gateway with two mock upstreams (real local HTTP servers):
 * - a failure after the 200 was committed (socket dropped, mid-stream stall, in-band error) is no
 *   fail-over, but it is a failed attempt: it cools the target down by its failure class and never
 *   marks it healthy;
 * - with a stream budget (model or group), an upstream EOF before the first chunk fails over like
 *   an error before the first chunk; without one, the committed empty stream keeps its framing but
 *   does not count as a success.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import type { ModelStatusRow } from '../health/tracker.js';
import { buildSnapshot, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import {
  chatSse,
  chunk,
  json,
  type MockBehaviour,
  type MockUpstream,
  startMockUpstream,
} from '../test/mock-upstream.js';

let a: MockUpstream;
let b: MockUpstream;
let g: Started;

const model = (name: string, pk: string, extra: Record<string, unknown> = {}) => ({
  display_name: name,
  provider: 'openai',
  model_name: name,
  provider_key_id: pk,
  ...extra,
});

before(async () => {
  a = await startMockUpstream(chatSse());
  b = await startMockUpstream(chatSse({ words: ['from', ' b'] }));
  const docs = standardDocs(a.url, {
    provider_keys: { pkb: { display_name: 'b', api_key: 'kb', provider: 'openai', api_base: `${b.url}/v1` } },
    models: {
      // Default cooldown (30 s, every trigger on).
      drop: model('drop', 'pk1', { retries: 0 }),
      stall: model('stall', 'pk1', { retries: 0, stream_timeout: 300 }),
      stall_nt: model('stall-nt', 'pk1', {
        retries: 0,
        stream_timeout: 300,
        cooldown: { trigger_on_timeout: false },
      }),
      inband: model('inband', 'pk1', { retries: 0 }),
      inband_nt: model('inband-nt', 'pk1', { retries: 0, cooldown: { trigger_on_transport: false } }),
      inband_st: model('inband-st', 'pk1', { retries: 0, cooldown: { trigger_on_transport: false } }),
      inband_st_off: model('inband-st-off', 'pk1', { retries: 0, cooldown: { trigger_statuses: [429] } }),
      sempty: model('sempty', 'pk1', { stream_timeout: 2000, retries: 0 }),
      gempty: model('gempty', 'pk1', { retries: 0 }),
      nobudget: model('nobudget', 'pk1', { retries: 0 }),
      ok: model('ok', 'pkb', { retries: 0 }),
      grp_drop: { display_name: 'grp-drop', routing: { targets: [{ model: 'drop' }, { model: 'ok' }] } },
      grp_sempty: {
        display_name: 'grp-sempty',
        routing: { targets: [{ model: 'sempty' }, { model: 'ok' }] },
      },
      grp_budget: {
        display_name: 'grp-budget',
        stream_timeout: 2000,
        routing: { targets: [{ model: 'gempty' }, { model: 'ok' }] },
      },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
});

beforeEach(() => {
  a.handle(chatSse());
  b.handle(chatSse({ words: ['from', ' b'] }));
});

after(async () => {
  await g.gw.close();
  await Promise.all([a.close(), b.close()]);
});

async function statusOf(alias: string): Promise<ModelStatusRow> {
  const rows = (await (
    await fetch(`http://127.0.0.1:${g.gw.metricsPort}/status/models`)
  ).json()) as ModelStatusRow[];
  const row = rows.find((r) => r.display_name === alias);
  assert.ok(row, `no /status/models row for ${alias}`);
  return row;
}

const failuresOf = (id: string) => g.gw.health.state(id)?.consecutiveFailures ?? 0;

async function post(modelName: string, stream: boolean): Promise<Response> {
  return fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-all', 'content-type': 'application/json' },
    body: JSON.stringify({ model: modelName, stream, messages: [{ role: 'user', content: 'x' }] }),
  });
}

/** The caller's text from an OpenAI chat SSE body. */
function textOf(raw: string): string {
  let text = '';
  for (const line of raw.split('\n')) {
    if (!line.startsWith('data: {')) continue;
    const c = JSON.parse(line.slice(6)) as { choices?: { delta?: { content?: string } }[] };
    text += c.choices?.[0]?.delta?.content ?? '';
  }
  return text;
}

const ERROR_FRAME = /event: error\ndata: \{"error":\{[^\n]*\}\}\n\n$/;

/** 200 + one content chunk, then `tail` (a function of the response) after a short pause. */
const oneChunkThen =
  (tail: (res: Parameters<MockBehaviour>[1]) => void): MockBehaviour =>
  async (req, res) => {
    const m = `${String(req.json?.model)}-2024`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk(m, { role: 'assistant', content: 'part' }));
    await new Promise((r) => setTimeout(r, 30));
    tail(res);
  };

/** 200 `text/event-stream`, then the body ends with no data at all. */
const emptyStream: MockBehaviour = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end();
};

test('a target in cooldown that then drops a stream after the 200 stays in cooldown (the drop is a failed attempt, not a success)', async () => {
  a.handle((_req, res) => json(res, 503, { error: { message: 'overloaded' } }));
  for (let i = 0; i < 5; i++) assert.equal((await post('drop', false)).status, 502);
  assert.equal((await statusOf('drop')).status, 'cooldown');
  assert.equal(failuresOf('drop'), 5);

  // A direct model keeps receiving traffic: it commits the 200, sends a chunk, drops the socket.
  a.handle(chatSse({ words: ['part', 'ial', 'never'], dropAfter: 2 }));
  const r = await post('drop', true);
  assert.equal(r.status, 200);
  const raw = await r.text();
  assert.equal(textOf(raw), 'partial');
  assert.match(raw, ERROR_FRAME);
  assert.ok(!raw.includes('[DONE]'));

  const row = await statusOf('drop');
  assert.equal(row.status, 'cooldown', 'a stream dropped after commit marked the target healthy');
  assert.equal(row.status_reason, 'transport_error');
  assert.equal(failuresOf('drop'), 6);

  // Still cooling: the group serves from the other target; no fail-over happened above.
  a.handle(chatSse());
  const aBefore = a.requests.length;
  const gr = await post('grp-drop', true);
  assert.equal(gr.status, 200);
  assert.equal(gr.headers.get('x-aisix-served-by'), 'ok');
  assert.equal(textOf(await gr.text()), 'from b');
  assert.equal(a.requests.length, aBefore);
});

test('a committed stream that drops is not failed over: the group answers the error frame and the next target is not called', async () => {
  // Fresh start for `drop`: a success clears its cooldown.
  assert.equal((await post('drop', true)).status, 200);
  assert.equal((await statusOf('drop')).status, 'healthy');
  a.handle(chatSse({ words: ['part', 'ial', 'never'], dropAfter: 2 }));
  const bBefore = b.requests.length;
  const r = await post('grp-drop', true);
  assert.equal(r.status, 200);
  const raw = await r.text();
  assert.equal(textOf(raw), 'partial');
  assert.match(raw, ERROR_FRAME);
  assert.equal(b.requests.length, bBefore, 'failed over after commit');
  assert.equal((await statusOf('drop')).status, 'cooldown');
  assert.equal(failuresOf('drop'), 1);
});

test('a mid-stream stall past the stream budget (after commit) is a timeout attempt: trigger_on_timeout cools the target down', async () => {
  const stallAfterChunk = oneChunkThen(() => {
    // Silent past the 300 ms budget: the gateway ends the stream with a timeout frame.
  });
  for (const alias of ['stall', 'stall', 'stall-nt']) {
    a.handle(stallAfterChunk);
    const r = await post(alias, true);
    assert.equal(r.status, 200);
    const raw = await r.text();
    assert.equal(textOf(raw), 'part');
    assert.match(raw, /"type":"timeout"\}\}\n\n$/);
  }
  const row = await statusOf('stall');
  assert.equal(row.status, 'cooldown', 'a stall after commit did not cool the target down');
  assert.equal(row.status_reason, 'request_timeout');
  assert.equal(failuresOf('stall'), 2);
  // `trigger_on_timeout: false`: counted as a failure, no cooldown.
  assert.equal((await statusOf('stall-nt')).status, 'healthy');
  assert.equal(failuresOf('stall_nt'), 1);
  assert.equal(g.gw.health.state('stall_nt')?.reason, 'request_timeout');
});

test('an in-band error without status after commit is a failed attempt of the transport family (trigger_on_transport)', async () => {
  const inBand = oneChunkThen((res) =>
    res.end('data: {"error":{"message":"boom","type":"server_error","code":"engine_failed"}}\n\n'),
  );
  for (const alias of ['inband', 'inband-nt']) {
    a.handle(inBand);
    const r = await post(alias, true);
    assert.equal(r.status, 200);
    const raw = await r.text();
    assert.equal(textOf(raw), 'part');
    assert.match(raw, ERROR_FRAME);
  }
  const row = await statusOf('inband');
  assert.equal(row.status, 'cooldown', 'an in-band error after commit did not cool the target down');
  assert.equal(row.status_reason, 'upstream_in_band_error');
  assert.equal(failuresOf('inband'), 1);
  assert.equal((await statusOf('inband-nt')).status, 'healthy');
  assert.equal(failuresOf('inband_nt'), 1);
});

test('an in-band error with a status after commit goes by the status list (§8.6), not trigger_on_transport', async () => {
  const inBand = oneChunkThen((res) => res.end('data: {"error":{"message":"boom","code":"500"}}\n\n'));
  for (const alias of ['inband-st', 'inband-st-off']) {
    a.handle(inBand);
    const r = await post(alias, true);
    assert.equal(r.status, 200);
    assert.match(await r.text(), ERROR_FRAME);
  }
  // trigger_on_transport: false does not spare it: 500 is in the default status list.
  const row = await statusOf('inband-st');
  assert.equal(row.status, 'cooldown', 'an in-band 500 did not cool the target down');
  assert.equal(row.status_reason, 'upstream_in_band_error');
  assert.equal(failuresOf('inband_st'), 1);
  // A status list without 500: counted, not cooled down.
  assert.equal((await statusOf('inband-st-off')).status, 'healthy');
  assert.equal(failuresOf('inband_st_off'), 1);
});

test('stream budget on the model: an upstream EOF before the first chunk fails over to the next target', async () => {
  a.handle(emptyStream);
  const aBefore = a.requests.length;
  const bBefore = b.requests.length;
  const r = await post('grp-sempty', true);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-aisix-served-by'), 'ok', 'the empty stream was answered, not failed over');
  assert.equal(textOf(await r.text()), 'from b');
  assert.equal(a.requests.length, aBefore + 1);
  assert.equal(b.requests.length, bBefore + 1);
  const row = await statusOf('sempty');
  assert.equal(row.status, 'cooldown');
  assert.equal(row.status_reason, 'transport_error');
});

test('stream budget on the group: an upstream EOF before the first chunk fails over too; alone it is an HTTP error, not an empty 200', async () => {
  a.handle(emptyStream);
  const bBefore = b.requests.length;
  const r = await post('grp-budget', true);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-aisix-served-by'), 'ok');
  assert.equal(textOf(await r.text()), 'from b');
  assert.equal(b.requests.length, bBefore + 1);
  assert.equal((await statusOf('gempty')).status, 'cooldown');

  // The model's own budget, no other target: the caller gets the attempt's error before commit.
  const direct = await post('sempty', true);
  assert.equal(direct.status, 502);
  const body = (await direct.json()) as { error: { type: string; message: string } };
  assert.equal(body.error.type, 'transport_error');
  assert.match(body.error.message, /before its first chunk/);
});

test('without a stream budget the empty stream keeps its framing (200 + [DONE]) but is not a success for health', async () => {
  // Healthy first, so a success would keep it healthy.
  a.handle(chatSse());
  assert.equal((await post('nobudget', true)).status, 200);
  assert.equal((await statusOf('nobudget')).status, 'healthy');
  a.handle(emptyStream);
  const r = await post('nobudget', true);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'data: [DONE]\n\n');
  const row = await statusOf('nobudget');
  assert.equal(row.status, 'cooldown', 'an empty stream marked the target healthy');
  assert.equal(row.status_reason, 'transport_error');
  assert.equal(failuresOf('nobudget'), 1);
});
