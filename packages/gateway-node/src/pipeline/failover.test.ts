/**
 * Group retries and fail-over (data-plane §8.3, §8.4): `fallback_on_statuses`, `retry_on_429`,
 * retry budgets and backoff, `max_fallbacks`, and a live config change, through a started
 * gateway with two mock upstreams (real local HTTP servers) and the official openai SDK.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, type Docs, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import {
  chatJson,
  chatSse,
  json,
  type MockUpstream,
  sleep,
  startMockUpstream,
} from '../test/mock-upstream.js';

let a: MockUpstream;
let b: MockUpstream;
let g: Started;
let client: OpenAI;

const target = (name: string, pk: string, extra: Record<string, unknown> = {}) => ({
  display_name: name,
  provider: 'openai',
  model_name: name,
  provider_key_id: pk,
  cooldown: { enabled: false },
  ...extra,
});

function docs(routingOverride: Record<string, unknown> = {}): Docs {
  return standardDocs(a.url, {
    provider_keys: { pkb: { display_name: 'b', api_key: 'kb', provider: 'openai', api_base: `${b.url}/v1` } },
    models: {
      ta: target('ta', 'pk1'),
      tb: target('tb', 'pkb'),
      ta1: target('ta1', 'pk1', { retries: 1 }),
      // Deadlines from the model (data-plane §8.2): 300 ms for the whole call / the first chunk.
      tslow: target('tslow', 'pk1', { timeout: 300, stream_timeout: 300, retries: 0 }),
      statuses: {
        display_name: 'statuses',
        routing: {
          targets: [{ model: 'ta' }, { model: 'tb' }],
          fallback_on_statuses: [404, 409],
          ...routingOverride,
        },
      },
      on429: {
        display_name: 'on429',
        routing: { targets: [{ model: 'ta' }, { model: 'tb' }], retry_on_429: true },
      },
      budget: {
        display_name: 'budget',
        routing: { targets: [{ model: 'ta' }, { model: 'tb' }], retries: 2 },
      },
      own: {
        display_name: 'own',
        routing: { targets: [{ model: 'ta1' }, { model: 'tb' }], retries: 3 },
      },
      timed: {
        display_name: 'timed',
        routing: { targets: [{ model: 'tslow' }, { model: 'tb' }] },
      },
      // A group stream budget: the first chunk is awaited before the 200 (data-plane §6.5).
      peek429: {
        display_name: 'peek429',
        stream_timeout: 5_000,
        routing: { targets: [{ model: 'ta' }, { model: 'tb' }], retry_on_429: true },
      },
      peek404: {
        display_name: 'peek404',
        stream_timeout: 5_000,
        routing: { targets: [{ model: 'ta' }, { model: 'tb' }], fallback_on_statuses: [404] },
      },
      peek: {
        display_name: 'peek',
        stream_timeout: 5_000,
        routing: { targets: [{ model: 'ta' }, { model: 'tb' }] },
      },
      single: {
        display_name: 'single',
        routing: { targets: [{ model: 'ta' }, { model: 'tb' }], max_fallbacks: 0 },
      },
    },
  });
}

before(async () => {
  a = await startMockUpstream(chatJson('from a'));
  b = await startMockUpstream(chatJson('from b'));
  g = await startTestGateway(buildSnapshot(docs()));
  client = new OpenAI({ apiKey: 'sk-all', baseURL: `${g.base}/v1`, maxRetries: 0 });
});

beforeEach(() => {
  a.handle(chatJson('from a'));
  b.handle(chatJson('from b'));
});

after(async () => {
  await g.gw.close();
  await Promise.all([a.close(), b.close()]);
});

async function chat(model: string): Promise<{ status: number; content?: string }> {
  try {
    const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] });
    return { status: 200, content: r.choices[0]?.message.content ?? '' };
  } catch (err) {
    if (err instanceof OpenAI.APIError) return { status: err.status ?? 0 };
    throw err;
  }
}

const failWith =
  (status: number, headers: Record<string, string> = {}): Parameters<MockUpstream['handle']>[0] =>
  (_req, res) =>
    json(res, status, { error: { message: `status ${status}` } }, headers);

test('fallback_on_statuses fails over on the listed 4xx only; other 4xx (and 429 without retry_on_429) stop', async () => {
  for (const s of [404, 409]) {
    a.handle(failWith(s));
    assert.deepEqual(await chat('statuses'), { status: 200, content: 'from b' }, `status ${s}`);
  }
  for (const s of [400, 403, 422, 429]) {
    a.handle(failWith(s));
    const before = b.requests.length;
    assert.equal((await chat('statuses')).status, s);
    assert.equal(b.requests.length, before, `status ${s} failed over`);
  }
  // 5xx fail over whatever the list says.
  a.handle(failWith(500));
  assert.deepEqual(await chat('statuses'), { status: 200, content: 'from b' });
});

test('retry_on_429: a 429 fails over to the next target', async () => {
  a.handle(failWith(429, { 'retry-after': '1' }));
  assert.deepEqual(await chat('on429'), { status: 200, content: 'from b' });
});

/** A 200 event stream whose first event is an in-band error embedding `code`. */
const inBandError =
  (code: number): Parameters<MockUpstream['handle']>[0] =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(`data: ${JSON.stringify({ error: { message: `in-band ${code}`, code } })}\n\n`);
  };

async function streamText(model: string): Promise<{ status: number; text?: string }> {
  try {
    const s = await client.chat.completions.create({
      model,
      stream: true,
      messages: [{ role: 'user', content: 'x' }],
    });
    let text = '';
    for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
    return { status: 200, text };
  } catch (err) {
    if (err instanceof OpenAI.APIError) return { status: err.status ?? 0 };
    throw err;
  }
}

test("an in-band stream error before commit follows the group's policy for its embedded status (retry_on_429, fallback_on_statuses)", async () => {
  b.handle(chatSse({ words: ['from', ' b'] }));
  // data-plane §8.3: "in-band stream error: same as its embedded status".
  a.handle(inBandError(429));
  assert.deepEqual(await streamText('peek429'), { status: 200, text: 'from b' });
  a.handle(inBandError(404));
  assert.deepEqual(await streamText('peek404'), { status: 200, text: 'from b' });
  // Without the opt-in the embedded 4xx is answered as is and nothing fails over.
  for (const code of [429, 404]) {
    a.handle(inBandError(code));
    const before = b.requests.length;
    assert.deepEqual(await streamText('peek'), { status: code });
    assert.equal(b.requests.length, before, `in-band ${code} failed over`);
  }
});

test('group retries: 2 → three attempts on the first target with exponential backoff, then the next target', async () => {
  const times: number[] = [];
  a.handle((req, res) => {
    times.push(Date.now());
    failWith(500)(req, res);
  });
  assert.deepEqual(await chat('budget'), { status: 200, content: 'from b' });
  assert.equal(times.length, 3);
  const gap1 = (times[1] as number) - (times[0] as number);
  const gap2 = (times[2] as number) - (times[1] as number);
  // 250 ms × 2^(n-1) + jitter in [0, 250] ms.
  assert.ok(gap1 >= 240 && gap1 < 700, `first backoff ${gap1} ms`);
  assert.ok(gap2 >= 490 && gap2 < 950, `second backoff ${gap2} ms`);
});

test('backoff honours an upstream Retry-After of at most 5 s', async () => {
  const times: number[] = [];
  a.handle((req, res) => {
    times.push(Date.now());
    if (times.length === 1) failWith(503, { 'retry-after': '1' })(req, res);
    else chatJson('from a')(req, res);
  });
  assert.deepEqual(await chat('budget'), { status: 200, content: 'from a' });
  const gap = (times[1] as number) - (times[0] as number);
  assert.ok(gap >= 990 && gap < 1500, `Retry-After backoff ${gap} ms`);
});

test("a target's own retries win over the group's", async () => {
  a.handle(failWith(502));
  const before = a.requests.length;
  assert.deepEqual(await chat('own'), { status: 200, content: 'from b' });
  assert.equal(a.requests.length - before, 2);
});

test('max_fallbacks: 0 → only the first target is tried', async () => {
  a.handle(failWith(500));
  const before = b.requests.length;
  assert.equal((await chat('single')).status, 502);
  assert.equal(b.requests.length, before);
});

test('routing changes apply live: a new snapshot with another fallback list and strategy', async () => {
  a.handle(failWith(418));
  assert.equal((await chat('statuses')).status, 418);
  g.source.set(buildSnapshot(docs({ fallback_on_statuses: [418] }), 2));
  assert.deepEqual(await chat('statuses'), { status: 200, content: 'from b' });
  a.handle(chatJson('from a'));
  g.source.set(
    buildSnapshot(docs({ strategy: 'least_cost', targets: [{ model: 'ta' }, { model: 'tb' }] }), 3),
  );
  assert.deepEqual(await chat('statuses'), { status: 200, content: 'from a' });
  g.source.set(
    buildSnapshot(
      {
        ...docs(),
        models: {
          ...docs().models,
          tb: target('tb', 'pkb', { cost: { input_per_1k: 0, output_per_1k: 0.001 } }),
          statuses: {
            display_name: 'statuses',
            routing: { strategy: 'least_cost', targets: [{ model: 'ta' }, { model: 'tb' }] },
          },
        },
      },
      4,
    ),
  );
  // Only tb has a cost now: it sorts first; a target without cost goes last.
  assert.deepEqual(await chat('statuses'), { status: 200, content: 'from b' });
  g.source.set(buildSnapshot(docs(), 5));
});

test('timeouts fail over: a non-streaming deadline and a first-token stream deadline move to the next target', async () => {
  a.handle(async (req, res) => {
    await sleep(1_000);
    if (!res.destroyed) await chatJson('late a')(req, res);
  });
  const t0 = Date.now();
  assert.deepEqual(await chat('timed'), { status: 200, content: 'from b' });
  assert.ok(Date.now() - t0 < 900, `took ${Date.now() - t0} ms`);

  a.handle(chatSse({ firstDelayMs: 1_000, words: ['late'] }));
  b.handle(chatSse({ words: ['from', ' b'] }));
  const stream = await client.chat.completions.create({
    model: 'timed',
    stream: true,
    messages: [{ role: 'user', content: 'x' }],
  });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  assert.equal(text, 'from b');
});

test('no fail-over once a stream has committed: partial content, then an error; the next target is not called', async () => {
  a.handle(chatSse({ words: ['part', 'ial', 'never'], dropAfter: 2 }));
  const before = b.requests.length;
  const stream = await client.chat.completions.create({
    model: 'statuses',
    stream: true,
    messages: [{ role: 'user', content: 'x' }],
  });
  let text = '';
  await assert.rejects(async () => {
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  }, OpenAI.APIError);
  assert.equal(text, 'partial');
  assert.equal(b.requests.length, before);
});
