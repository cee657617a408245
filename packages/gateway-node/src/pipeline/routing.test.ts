/**
 * Routing strategies and tag routing (data-plane §8.4, §8.5) through a started gateway: three
 * mock upstreams are real local HTTP servers (one provider key each), callers use the official
 * openai SDK, and which target served a request is read from the upstreams' own request logs.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import {
  chatJson,
  chunk,
  type MockBehaviour,
  type MockUpstream,
  sleep,
  startMockUpstream,
} from '../test/mock-upstream.js';

let a: MockUpstream;
let b: MockUpstream;
let c: MockUpstream;
let g: Started;
let client: OpenAI;

/** A direct target on upstream `pk` that neither retries nor cools down (tests stay independent). */
const target = (name: string, pk: string, extra: Record<string, unknown> = {}) => ({
  display_name: name,
  provider: 'openai',
  model_name: name,
  provider_key_id: pk,
  retries: 0,
  cooldown: { enabled: false },
  ...extra,
});

const group = (name: string, routing: Record<string, unknown>) => ({ display_name: name, routing });

function docs(aUrl: string, bUrl: string, cUrl: string) {
  return standardDocs(aUrl, {
    provider_keys: {
      pkb: { display_name: 'b', api_key: 'kb', provider: 'openai', api_base: `${bUrl}/v1` },
      pkc: { display_name: 'c', api_key: 'kc', provider: 'openai', api_base: `${cUrl}/v1` },
    },
    models: {
      ta: target('ta', 'pk1', { cost: { input_per_1k: 0.5, output_per_1k: 1.5 } }),
      tb: target('tb', 'pkb', { cost: { input_per_1k: 0.1, output_per_1k: 0.2 } }),
      tc: target('tc', 'pkc'),
      // Only the least_latency group uses these: no other test samples them.
      la: target('la', 'pk1'),
      lb: target('lb', 'pkb'),
      weighted: group('weighted', {
        strategy: 'weighted',
        targets: [
          { model: 'ta', weight: 1 },
          { model: 'tb', weight: 3 },
          { model: 'tc', weight: 0 },
        ],
      }),
      canary: group('canary', {
        strategy: 'weighted',
        sticky: true,
        targets: [
          { model: 'ta', weight: 90 },
          { model: 'tb', weight: 10 },
        ],
      }),
      cheap: group('cheap', {
        strategy: 'least_cost',
        targets: [{ model: 'tc' }, { model: 'ta' }, { model: 'tb' }],
      }),
      fast: group('fast', { strategy: 'least_latency', targets: [{ model: 'la' }, { model: 'lb' }] }),
      busy: group('busy', { strategy: 'least_busy', targets: [{ model: 'ta' }, { model: 'tb' }] }),
      tagged: group('tagged', {
        targets: [
          { model: 'ta', tags: ['fast'] },
          { model: 'tb', tags: ['default'] },
          { model: 'tc', tags: ['eu', 'fast'] },
        ],
      }),
      nodefault: group('nodefault', {
        targets: [
          { model: 'ta', tags: ['x'] },
          { model: 'tb', tags: ['y'] },
        ],
      }),
      plain: group('plain', { targets: [{ model: 'tb' }, { model: 'ta' }] }),
    },
  });
}

before(async () => {
  a = await startMockUpstream(chatJson('from a'));
  b = await startMockUpstream(chatJson('from b'));
  c = await startMockUpstream(chatJson('from c'));
  g = await startTestGateway(buildSnapshot(docs(a.url, b.url, c.url)));
  client = new OpenAI({ apiKey: 'sk-all', baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await Promise.all([a.close(), b.close(), c.close()]);
});

/** Which upstream served: the content each mock answers with. */
async function served(model: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await client.chat.completions.create(
    { model, messages: [{ role: 'user', content: 'x' }] },
    { headers },
  );
  return r.choices[0]?.message.content ?? '';
}

function counts(results: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) out[r] = (out[r] ?? 0) + 1;
  return out;
}

/** `n` requests, `concurrency` at a time. */
async function many(n: number, concurrency: number, one: (i: number) => Promise<string>): Promise<string[]> {
  const out: string[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await one(i);
      }
    }),
  );
  return out;
}

test('weighted 1:3:0 over 1,000 requests: each share within ±5 points of its weight; weight 0 never served', async () => {
  const got = counts(await many(1000, 16, () => served('weighted')));
  assert.equal(got['from c'], undefined, 'a zero-weight target was chosen');
  const shareB = (got['from b'] ?? 0) / 1000;
  const shareA = (got['from a'] ?? 0) / 1000;
  assert.ok(Math.abs(shareB - 0.75) <= 0.05, `tb share ${shareB}`);
  assert.ok(Math.abs(shareA - 0.25) <= 0.05, `ta share ${shareA}`);
});

test('canary (sticky weighted 90:10): one routing key always reaches the same target; over 1,000 keys ≈ 10 % canary', async () => {
  for (const key of ['user-1', 'user-2', 'user-3', 'user-42']) {
    const first = await served('canary', { 'x-aisix-routing-key': key });
    for (let i = 0; i < 4; i++) assert.equal(await served('canary', { 'x-aisix-routing-key': key }), first);
  }
  const got = counts(await many(1000, 16, (i) => served('canary', { 'x-aisix-routing-key': `k-${i}` })));
  const canary = (got['from b'] ?? 0) / 1000;
  assert.ok(Math.abs(canary - 0.1) <= 0.04, `canary share ${canary}`);
  // Without the header the caller key is the stability key: one caller, one target.
  const byKey = counts(await many(20, 4, () => served('canary')));
  assert.equal(Object.keys(byKey).length, 1, JSON.stringify(byKey));
});

test('least_cost: the cheapest target serves; on its failure the next cheapest, the target without cost last', async () => {
  assert.deepEqual(counts(await many(10, 2, () => served('cheap'))), { 'from b': 10 });
  b.handle((_req, res) => {
    res.writeHead(500).end('{"error":{"message":"down"}}');
  });
  assert.equal(await served('cheap'), 'from a');
  a.handle((_req, res) => {
    res.writeHead(500).end('{"error":{"message":"down"}}');
  });
  const before = c.requests.length;
  assert.equal(await served('cheap'), 'from c');
  assert.equal(c.requests.length, before + 1);
  a.handle(chatJson('from a'));
  b.handle(chatJson('from b'));
});

const slow =
  (ms: number, content: string): MockBehaviour =>
  async (req, res) => {
    await sleep(ms);
    await chatJson(content)(req, res);
  };

test('least_latency: never-sampled targets first, then the lower estimate; a target made slow loses the traffic', async () => {
  a.handle(chatJson('from a'));
  b.handle(slow(150, 'from b'));
  // Both sampled once (never-sampled first), then the fast one keeps the traffic.
  const warm = await many(8, 1, () => served('fast'));
  assert.deepEqual(warm.slice(0, 2), ['from a', 'from b']);
  assert.deepEqual(warm.slice(2), new Array(6).fill('from a'));
  // ta becomes slower than tb: within a couple of samples its estimate passes tb's.
  a.handle(slow(400, 'from a'));
  b.handle(chatJson('from b'));
  const shifted = await many(8, 1, () => served('fast'));
  assert.ok(shifted.filter((s) => s === 'from a').length <= 3, JSON.stringify(shifted));
  assert.deepEqual(shifted.slice(-5), new Array(5).fill('from b'));
  a.handle(chatJson('from a'));
});

/** An SSE stream held open (role chunk sent) until `release()`. */
function heldStreams() {
  const waiting: (() => void)[] = [];
  const behaviour: MockBehaviour = async (req, res: ServerResponse) => {
    const model = String(req.json?.model);
    if (req.url.endsWith('/audio/speech')) {
      // Pass-through audio: bytes now, the rest on release.
      res.writeHead(200, { 'content-type': 'audio/mpeg' });
      res.write(Buffer.alloc(64, 1));
      await new Promise<void>((r) => waiting.push(r));
      res.end(Buffer.alloc(64, 2));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk(model, { role: 'assistant', content: 'hi' }));
    await new Promise<void>((r) => waiting.push(r));
    res.write(chunk(model, {}, 'stop'));
    res.end('data: [DONE]\n\n');
  };
  return {
    behaviour,
    release: () => {
      for (const w of waiting.splice(0)) w();
    },
  };
}

async function openStream(model: string) {
  const s = await client.chat.completions.create({
    model,
    stream: true,
    messages: [{ role: 'user', content: 'x' }],
  });
  const it = s[Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(first.done, false);
  return async () => {
    for (let r = await it.next(); !r.done; r = await it.next()) {}
  };
}

test('least_busy: concurrent streams spread by in-flight count; a target busy with direct streams or pass-through audio is avoided', async () => {
  const held = heldStreams();
  a.handle(held.behaviour);
  b.handle(held.behaviour);
  const a0 = a.requests.length;
  const b0 = b.requests.length;
  const open: (() => Promise<void>)[] = [];
  for (let i = 0; i < 6; i++) open.push(await openStream('busy'));
  assert.equal(a.requests.length - a0, 3);
  assert.equal(b.requests.length - b0, 3);
  // Two more direct streams on ta: the group now sends its next two streams to tb.
  open.push(await openStream('ta'));
  open.push(await openStream('ta'));
  const b1 = b.requests.length;
  open.push(await openStream('busy'));
  open.push(await openStream('busy'));
  assert.equal(b.requests.length - b1, 2);
  // ta 5, tb 5 in flight. Two pass-through audio streams on tb: the next group stream goes to ta.
  const speech: Response[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await client.audio.speech.create({ model: 'tb', voice: 'alloy', input: 'hi' });
    assert.equal(r.status, 200);
    speech.push(r);
  }
  const a2 = a.requests.length;
  open.push(await openStream('busy'));
  assert.equal(a.requests.length - a2, 1);
  held.release();
  for (const r of speech) assert.equal((await r.arrayBuffer()).byteLength, 128);
  await Promise.all(open.map((f) => f()));
  // Every stream ended: both counts back to zero, the first target wins ties again.
  a.handle(chatJson('from a'));
  b.handle(chatJson('from b'));
  assert.equal(await served('busy'), 'from a');
});

test('tags: `default` without a header, any-match with one, default when nothing matches; header never forwarded', async () => {
  assert.equal(await served('tagged'), 'from b');
  assert.equal(await served('tagged', { 'x-aisix-routing-tags': 'eu' }), 'from c');
  assert.equal(await served('tagged', { 'x-aisix-routing-tags': 'fast' }), 'from a');
  assert.equal(await served('tagged', { 'x-aisix-routing-tags': ' , nope ,  eu ' }), 'from c');
  assert.equal(await served('tagged', { 'x-aisix-routing-tags': 'nope' }), 'from b');
  // Fail-over stays inside the eligible set: `fast` = ta then tc, never the default tb.
  a.handle((_req, res) => {
    res.writeHead(503).end('{}');
  });
  const b0 = b.requests.length;
  assert.equal(await served('tagged', { 'x-aisix-routing-tags': 'fast' }), 'from c');
  assert.equal(b.requests.length, b0);
  a.handle(chatJson('from a'));
  for (const m of [a, b, c]) {
    for (const r of m.requests) {
      assert.equal(r.headers['x-aisix-routing-tags'], undefined);
      // Nor the canary test's stability key.
      assert.equal(r.headers['x-aisix-routing-key'], undefined);
    }
  }
  // An untagged group ignores the header.
  assert.equal(await served('plain', { 'x-aisix-routing-tags': 'eu' }), 'from b');
});

test('tags: no match and no `default` target → 400 naming the tags; no header → all targets', async () => {
  assert.equal(await served('nodefault'), 'from a');
  assert.equal(await served('nodefault', { 'x-aisix-routing-tags': 'y' }), 'from b');
  await assert.rejects(
    served('nodefault', { 'x-aisix-routing-tags': 'z, w' }),
    (err: unknown) =>
      err instanceof OpenAI.BadRequestError &&
      err.type === 'invalid_request_error' &&
      /no routing target matches request tags \[z, w\]/.test(err.message),
  );
});
