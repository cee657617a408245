/**
 * Ensembles (agents-and-jobs §8.1) through a started gateway and the official openai SDK: a
 * chat mock answers per upstream model and records every call, so the panel calls (member
 * temperature / seed), the judge prompt (labeled candidates, no model names), min_responses,
 * the summed usage and the restamped streaming judge are checked on the wire.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import {
  buildSnapshot,
  type Docs,
  type Started,
  standardDocs,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import {
  chatJson,
  chatSse,
  json,
  type MockUpstream,
  sleep,
  startMockUpstream,
} from '../test/mock-upstream.js';
import { BoundedQueue, type UsageSink } from '../usage/bus.js';
import type { UsageEvent } from '../usage/events.js';
import { judgePrompt, truncateUtf8 } from './ensemble.js';

let up: MockUpstream;
let g: Started;
let client: OpenAI;
/** One promise per `hang` call, settled when the gateway's connection for it closes. */
const hung: Promise<void>[] = [];
/** When each `broken` call reached the upstream (performance.now()). */
const brokenAt: number[] = [];
let docs: Docs;

const sink = new (class implements UsageSink {
  readonly name = 'test';
  readonly queue = new BoundedQueue<UsageEvent>(1000);
  readonly seen: UsageEvent[] = [];
  offer(events: readonly UsageEvent[]): number {
    for (const e of events) this.queue.push(e);
    return 0;
  }
  async of(id: string, n: number): Promise<UsageEvent[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      this.seen.push(...this.queue.take(1000));
      const mine = this.seen.filter((e) => e.request_id === id);
      if (mine.length >= n) return mine;
      assert.ok(Date.now() < deadline, `only ${mine.length} events for ${id}`);
      await sleep(10);
    }
  }
})();

const ANSWERS: Record<string, string> = {
  'panel-a-up': 'Paris is the capital of France.',
  'panel-b-up': 'The capital is Paris.',
  'judge-up': 'Paris.',
};

const direct = (name: string) => ({
  display_name: name,
  provider: 'openai',
  model_name: `${name}-up`,
  provider_key_id: 'pk1',
});

before(async () => {
  up = await startMockUpstream();
  up.handle(async (req, res) => {
    const model = String(req.json?.model);
    if (model === 'broken-up') {
      brokenAt.push(performance.now());
      return json(res, 500, { error: { message: 'boom' } });
    }
    if (model === 'slow-up') await sleep(4000);
    if (model === 'judge4xx-up') return json(res, 400, { error: { message: 'judge says no' } });
    if (model === 'judge-deep-up')
      // A chat completion carrying a value nested far past what JSON.stringify can re-encode.
      return json(
        res,
        200,
        `{"id":"d","object":"chat.completion","created":1,"model":"${model}","choices":[{"index":0,` +
          `"message":{"role":"assistant","content":"Paris."},"finish_reason":"stop"}],` +
          `"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2},` +
          `"x":${'['.repeat(50_000)}${']'.repeat(50_000)}}`,
      );
    if (model === 'hang-up') {
      // Answers after 3 s unless the gateway gives up on the call first.
      const gone = new Promise<void>((r) => res.once('close', () => r()));
      hung.push(gone);
      await Promise.race([gone, sleep(3000)]);
      if (res.destroyed) return;
    }
    if (model.startsWith('quiet')) {
      if (req.json?.stream === true) return chatSse({ words: ['Par', 'is.'], noUsage: true })(req, res);
      return json(res, 200, {
        id: 'q',
        object: 'chat.completion',
        created: 1,
        model,
        choices: [
          { index: 0, message: { role: 'assistant', content: 'Paris it is.' }, finish_reason: 'stop' },
        ],
      });
    }
    if (req.json?.stream === true) return chatSse({ words: ['Par', 'is.'] })(req, res);
    return chatJson(ANSWERS[model] ?? 'slow answer')(req, res);
  });
  docs = standardDocs(up.url, {
    models: {
      'panel-a': direct('panel-a'),
      'panel-b': direct('panel-b'),
      broken: direct('broken'),
      slow: direct('slow'),
      judge: direct('judge'),
      judge4xx: direct('judge4xx'),
      'judge-deep': direct('judge-deep'),
      'quiet-a': direct('quiet-a'),
      'quiet-b': direct('quiet-b'),
      'quiet-j': direct('quiet-j'),
      'ens-quiet': {
        display_name: 'ens-quiet',
        ensemble: { panel: [{ model: 'quiet-a' }, { model: 'quiet-b' }], judge: { model: 'quiet-j' } },
      },
      ens: {
        display_name: 'ens',
        ensemble: {
          panel: [{ model: 'panel-a', temperature: 0.1, seed: 7 }, { model: 'panel-b' }],
          judge: { model: 'judge' },
        },
      },
      'ens-strict': {
        display_name: 'ens-strict',
        ensemble: {
          panel: [{ model: 'panel-a' }, { model: 'broken' }, { model: 'slow' }],
          judge: { model: 'judge' },
          min_responses: 2,
          timeout_ms: 300,
        },
      },
      'ens-lenient': {
        display_name: 'ens-lenient',
        ensemble: {
          panel: [{ model: 'panel-a' }, { model: 'broken' }],
          judge: { model: 'judge', synthesis_prompt: 'Q: {original_request}\n---\n{labeled_candidates}' },
          min_responses: 1,
        },
      },
      // rpm 0 allows nothing (decisions.md 12); rpm 1 lets one call through per minute.
      'panel-capped': { ...direct('panel-capped'), rate_limit: { rpm: 0 } },
      'panel-once': { ...direct('panel-once'), rate_limit: { rpm: 1 } },
      'ens-capped': {
        display_name: 'ens-capped',
        ensemble: { panel: [{ model: 'panel-a' }, { model: 'panel-capped' }], judge: { model: 'judge' } },
      },
      'ens-once': {
        display_name: 'ens-once',
        ensemble: {
          panel: [{ model: 'panel-a' }, { model: 'panel-once' }],
          judge: { model: 'judge' },
          min_responses: 1,
        },
      },
      hang: direct('hang'),
      'ens-hang': {
        display_name: 'ens-hang',
        ensemble: {
          panel: [{ model: 'hang' }, { model: 'hang', temperature: 0.5 }],
          judge: { model: 'judge' },
        },
      },
      'ens-hang-judge': {
        display_name: 'ens-hang-judge',
        ensemble: { panel: [{ model: 'panel-a' }], judge: { model: 'hang' } },
      },
      'ens-judge4xx': {
        display_name: 'ens-judge4xx',
        ensemble: { panel: [{ model: 'panel-a' }], judge: { model: 'judge4xx' } },
      },
      'ens-judge-deep': {
        display_name: 'ens-judge-deep',
        ensemble: { panel: [{ model: 'panel-a' }], judge: { model: 'judge-deep' } },
      },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
  g.gw.usage.attach(sink);
  client = new OpenAI({ apiKey: 'sk-all', baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
});

const messages = [
  { role: 'system' as const, content: 'Answer briefly.' },
  { role: 'user' as const, content: 'What is the capital of France?' },
];

const since = (n: number) => up.requests.slice(n).map((r) => r.json as Record<string, unknown>);

async function status(p: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await p;
    return { status: 200, message: '' };
  } catch (e) {
    if (e instanceof OpenAI.APIError) return { status: e.status ?? 0, message: e.message };
    throw e;
  }
}

test('panel then judge: the answer is the judge’s under the ensemble alias, usage summed', async () => {
  const n = up.requests.length;
  const { data, response } = await client.chat.completions
    .create({ model: 'ens', messages, temperature: 0.9 })
    .withResponse();
  assert.equal(data.choices[0]?.message.content, 'Paris.');
  assert.equal(data.model, 'ens');
  // Three calls of 9 + 3 tokens each.
  assert.deepEqual(
    [data.usage?.prompt_tokens, data.usage?.completion_tokens, data.usage?.total_tokens],
    [27, 9, 36],
  );
  assert.equal(response.headers.get('x-aisix-served-by'), null);
  const calls = since(n);
  assert.equal(calls.length, 3);
  const a = calls.find((c) => c.model === 'panel-a-up');
  const b = calls.find((c) => c.model === 'panel-b-up');
  assert.deepEqual([a?.temperature, a?.seed, a?.stream], [0.1, 7, false]);
  assert.deepEqual([b?.temperature, b?.seed], [0.9, undefined], 'no member override: the caller’s value');
  assert.deepEqual(a?.messages, messages);
  const judge = calls.at(-1);
  assert.equal(judge?.model, 'judge-up');
  assert.equal(judge?.temperature, 0.2);
  const jm = judge?.messages as { role: string; content: string }[];
  assert.equal(jm.length, 1);
  assert.equal(jm[0]?.role, 'user');
  const prompt = jm[0]?.content ?? '';
  assert.ok(prompt.includes('System: Answer briefly.\nUser: What is the capital of France?'), prompt);
  assert.ok(/Answer 1:\n/.test(prompt) && /Answer 2:\n/.test(prompt), prompt);
  assert.ok(prompt.includes(ANSWERS['panel-a-up'] as string));
  assert.ok(prompt.includes(ANSWERS['panel-b-up'] as string));
  for (const name of ['panel-a', 'panel-b', 'judge']) assert.ok(!prompt.includes(name), `${name} shown`);
});

test('min_responses: too few panel answers → 502; a slow member is cut by timeout_ms', async () => {
  const t0 = performance.now();
  const r = await status(client.chat.completions.create({ model: 'ens-strict', messages }));
  assert.equal(r.status, 502);
  assert.match(r.message, /ensemble panel did not reach the required number of responses/);
  assert.ok(performance.now() - t0 < 2500, 'timeout_ms (300) cuts the slow member (4 s)');
  // With min_responses 1 the one survivor is judged, through the custom template.
  const n = up.requests.length;
  const ok = await client.chat.completions.create({ model: 'ens-lenient', messages });
  assert.equal(ok.choices[0]?.message.content, 'Paris.');
  const judged = since(n).at(-1)?.messages as { content: string }[] | undefined;
  const prompt = judged?.[0]?.content;
  assert.equal(
    prompt,
    `Q: System: Answer briefly.\nUser: What is the capital of France?\n---\nAnswer 1:\n${ANSWERS['panel-a-up']}`,
  );
});

test('a panel member is retried as its own dispatch would: backoff between tries, no retried timeout on the default budget', async () => {
  // The deployment's default budget (upstream.retries 2), as a direct request to each member gets.
  const g2 = await startTestGateway(buildSnapshot(docs), testConfig({ upstream: { retries: 2 } }));
  try {
    const c2 = new OpenAI({ apiKey: 'sk-all', baseURL: `${g2.base}/v1`, maxRetries: 0 });
    const n = up.requests.length;
    brokenAt.length = 0;
    // panel-a answers, `broken` fails with 500 on every try, `slow` is cut by timeout_ms (300).
    const r = await status(c2.chat.completions.create({ model: 'ens-strict', messages }));
    assert.equal(r.status, 502);
    const calls = (m: string) => since(n).filter((b) => b.model === m).length;
    assert.equal(calls('broken-up'), 3, 'a 500 is retried within the budget');
    assert.equal(calls('slow-up'), 1, 'a timeout is not retried on the deployment default budget');
    // data-plane §8.3: min(250 ms × 2^(n-1), 2000 ms) + jitter before same-target retry n.
    const [a, b, c] = brokenAt as [number, number, number];
    assert.ok(b - a >= 240, `first retry after ${Math.round(b - a)} ms`);
    assert.ok(c - b >= 490, `second retry after ${Math.round(c - b)} ms`);
  } finally {
    await g2.gw.close();
  }
});

test('a panel member over its own model-layer limit fails as a member (§8.1 step 2)', async () => {
  // Two members, min_responses 2: the capped one is refused locally, so the panel is short.
  let n = up.requests.length;
  const r = await status(client.chat.completions.create({ model: 'ens-capped', messages }));
  assert.equal(r.status, 502);
  assert.match(r.message, /ensemble panel did not reach the required number of responses/);
  assert.deepEqual(
    since(n).map((b) => b.model),
    ['panel-a-up'],
    'the over-limit member never reaches its upstream',
  );
  // rpm 1: the member answers once, then fails as a member while the ensemble still answers.
  for (const expected of [['panel-a-up', 'panel-once-up'], ['panel-a-up']]) {
    n = up.requests.length;
    const ok = await client.chat.completions.create({ model: 'ens-once', messages });
    assert.equal(ok.choices[0]?.message.content, 'Paris.');
    const panel = since(n)
      .map((b) => String(b.model))
      .filter((m) => m !== 'judge-up')
      .sort();
    assert.deepEqual(panel, expected);
  }
});

/** Sum of `aisix_llm_total_tokens_total` over the series of one model. */
async function tokensOf(model: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('aisix_llm_total_tokens_total{') && line.includes(`model="${model}"`))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function tokensAfter(model: string, before: number): Promise<number> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const now = await tokensOf(model);
    if (now !== before) return now - before;
    assert.ok(Date.now() < deadline, 'no token metric recorded');
    await sleep(10);
  }
}

test('streaming: panel + judge tokens are counted once for the request, as without streaming (§8.1 step 7)', async () => {
  let before = await tokensOf('ens');
  const unary = await client.chat.completions.create({ model: 'ens', messages });
  const expected = unary.usage?.total_tokens ?? 0;
  assert.ok(expected > 0);
  assert.equal(await tokensAfter('ens', before), expected);
  before = await tokensOf('ens');
  const stream = await client.chat.completions.create({
    model: 'ens',
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const _ of stream) {
    // drain
  }
  assert.equal(await tokensAfter('ens', before), expected, 'the panel tokens count on a stream too');
});

test('a client that goes away aborts the panel calls and a non-streaming judge call (data-plane §6.6)', async () => {
  for (const [model, calls] of [
    ['ens-hang', 2],
    ['ens-hang-judge', 1],
  ] as const) {
    hung.length = 0;
    const ac = new AbortController();
    const r = client.chat.completions.create({ model, messages }, { signal: ac.signal });
    const deadline = Date.now() + 2000;
    while (hung.length < calls) {
      assert.ok(Date.now() < deadline, `${model}: the hanging calls never started`);
      await sleep(10);
    }
    ac.abort();
    await assert.rejects(r);
    const t0 = performance.now();
    await Promise.all(hung);
    // The upstream answers after 3 s: its connection closing long before is the gateway's abort.
    assert.ok(performance.now() - t0 < 1500, `${model}: the upstream calls outlived the client`);
  }
});

test('a judge 4xx keeps its status', async () => {
  const r = await status(client.chat.completions.create({ model: 'ens-judge4xx', messages }));
  assert.equal(r.status, 400);
});

test('a judge answer the gateway cannot re-encode (nested too deep) is a 502, never a 500 (data-plane §7.3)', async () => {
  const r = await status(client.chat.completions.create({ model: 'ens-judge-deep', messages }));
  assert.equal(r.status, 502);
  assert.match(r.message, /upstream returned an unparseable body/);
  // The gateway is still serving.
  const ok = await client.chat.completions.create({ model: 'ens', messages });
  assert.equal(ok.choices[0]?.message.content, 'Paris.');
});

test('streaming: the panel is buffered, the judge’s stream is relayed restamped to the alias', async () => {
  const n = up.requests.length;
  const { data, response } = await client.chat.completions
    .create({ model: 'ens', messages, stream: true })
    .withResponse();
  assert.equal(response.headers.get('x-aisix-served-by'), null);
  let text = '';
  let chunks = 0;
  for await (const c of data) {
    chunks++;
    assert.equal(c.model, 'ens');
    assert.equal(c.usage ?? undefined, undefined, 'no usage chunk fabricated');
    text += c.choices[0]?.delta.content ?? '';
  }
  assert.ok(chunks >= 3);
  assert.equal(text, 'Paris.');
  const calls = since(n);
  // The judge is called after both panel answers arrived (their order is a race).
  assert.deepEqual(calls.at(-1) && [calls.at(-1)?.model, calls.at(-1)?.stream], ['judge-up', true]);
  assert.deepEqual(
    calls
      .slice(0, -1)
      .map((c) => [c.model, c.stream])
      .sort(),
    [
      ['panel-a-up', false],
      ['panel-b-up', false],
    ],
  );
});

test('tools are refused and other endpoints answer 400', async () => {
  const before = up.requests.length;
  const tools = await status(
    client.chat.completions.create({
      model: 'ens',
      messages,
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    }),
  );
  assert.deepEqual(tools, { status: 400, message: tools.message });
  assert.match(tools.message, /ensemble models do not support tools/);
  const forced = await status(
    client.chat.completions.create({ model: 'ens', messages, tool_choice: 'required' }),
  );
  assert.equal(forced.status, 400);
  const emb = await status(client.embeddings.create({ model: 'ens', input: 'x' }));
  assert.equal(emb.status, 400);
  assert.match(emb.message, /model `ens` is an ensemble model; only \/v1\/chat\/completions is supported/);
  assert.equal(up.requests.length, before, 'nothing reached an upstream');
});

test('judge template: candidates truncated to 8 KiB with …, placeholders not expanded twice', () => {
  const long = 'é'.repeat(5000);
  const t = truncateUtf8(long, 8192);
  assert.ok(t.endsWith('…'));
  assert.equal(Buffer.byteLength(t.slice(0, -1)), 8192);
  const p = judgePrompt(
    '{original_request}|{labeled_candidates}',
    [{ role: 'user', content: '{labeled_candidates}' }],
    ['x', 'y'],
  );
  assert.equal(p, 'User: {labeled_candidates}|Answer 1:\nx\n\nAnswer 2:\ny');
});

test('one usage event per sub-call: panel 0..N-1 and judge N, each with its own reported usage', async () => {
  for (const stream of [false, true]) {
    const r = await client.chat.completions.create({ model: 'ens', messages, stream }).withResponse();
    if (stream) for await (const _ of r.data as AsyncIterable<unknown>);
    const id = r.response.headers.get('x-aisix-request-id') ?? '';
    const events = (await sink.of(id, 3)).sort((a, b) => a.attempt_index - b.attempt_index);
    assert.deepEqual(
      events.map((e) => [e.attempt_index, e.attempt_kind, e.requested_model]),
      [
        [0, 'panel', 'ens'],
        [1, 'panel', 'ens'],
        [2, 'judge', 'ens'],
      ],
      `stream ${stream}`,
    );
    assert.deepEqual(
      events.map((e) => e.attempt_model),
      ['panel-a-up', 'panel-b-up', 'judge-up'],
    );
    // Each event carries its own call's usage (the gateway asks a streaming judge for its usage
    // chunk), never the panel's sum.
    assert.deepEqual(
      events.map((e) => [e.prompt_tokens, e.completion_tokens]),
      [
        [9, 3],
        [9, 3],
        [9, 3],
      ],
    );
  }
});

test('a usage-less backend: one flagged estimated event per panel member and judge; client usage zero', async () => {
  const r = await client.chat.completions.create({ model: 'ens-quiet', messages }).withResponse();
  assert.deepEqual(
    [r.data.usage?.prompt_tokens, r.data.usage?.completion_tokens, r.data.usage?.total_tokens],
    [0, 0, 0],
  );
  const id = r.response.headers.get('x-aisix-request-id') ?? '';
  const events = (await sink.of(id, 3)).sort((a, b) => a.attempt_index - b.attempt_index);
  assert.deepEqual(
    events.map((e) => [e.attempt_kind, e.usage_estimated]),
    [
      ['panel', true],
      ['panel', true],
      ['judge', true],
    ],
  );
  for (const e of events) assert.ok(e.prompt_tokens > 0 && e.completion_tokens > 0, JSON.stringify(e));
});
