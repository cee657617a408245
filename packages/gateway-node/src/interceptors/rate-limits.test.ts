/**
 * Rate limiting through a started gateway, driven by the official SDKs against real mock
 * upstreams (data-plane §9, §7.1-7.3; decisions 12, OP-10): every limit dimension on a caller
 * key and on a model refuses at the right request with 429, the route's envelope, the right
 * message and Retry-After; 0 allows nothing; success heads carry `x-ratelimit-*` for the
 * configured dimensions only, from the tightest layer; a request no limit applies to carries
 * none; a limit changed in the config applies to the next request; rejections are counted in
 * `aisix_ratelimit_rejections_total`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sleep } from '../test/mock-upstream.js';
import {
  type Refused,
  type Rig,
  refused,
  rlHeaders,
  roomIn,
  secsLeft,
  startRig,
} from '../test/rate-limit-rig.js';
import { preloadTokenizer } from '../usage/estimate.js';

let rig: Rig;

before(async () => {
  rig = await startRig();
});

after(() => rig.close());

const hello = [{ role: 'user' as const, content: 'hello' }];
const REQUESTS = 'request limit exceeded (requests)';
const TOKENS_MSG = 'token limit exceeded (tokens)';
const CONCURRENCY = 'concurrency limit exceeded';

type Layer = 'key' | 'model';

/** A fresh key and model with `limit` on the chosen layer. */
function setup(
  layer: Layer,
  limit: Record<string, number>,
  upstream?: string,
): { key: string; model: string } {
  const key = rig.key(layer === 'key' ? limit : undefined);
  const model = rig.model(layer === 'model' ? limit : undefined, upstream);
  return { key, model };
}

function chat(key: string, model: string) {
  return rig.client(key).chat.completions.create({ model, messages: hello }).withResponse();
}

function anthropicCall(key: string, model: string) {
  return rig.anthropic(key).messages.create({ model, max_tokens: 16, messages: hello });
}

/** Retry-After lies within the seconds left of the window measured around the call. */
function assertRetryAfter(r: Refused, w: number, t0: number, t1: number): void {
  assert.match(r.retryAfter ?? '', /^\d+$/, 'Retry-After is whole seconds');
  const n = Number(r.retryAfter);
  assert.ok(n >= 1, 'Retry-After is at least 1');
  assert.ok(
    n >= secsLeft(w, t1) && n <= secsLeft(w, t0),
    `Retry-After ${n} is the time left in the ${w}s window`,
  );
}

/** The refusal in both envelopes: OpenAI on chat, Anthropic on /v1/messages. */
async function assertRefusedBoth(
  key: string,
  model: string,
  message: string,
  w: number | undefined,
): Promise<void> {
  let t0 = Date.now();
  const o = await refused(chat(key, model));
  let t1 = Date.now();
  assert.equal(o.status, 429);
  assert.deepEqual(o.error, { message, type: 'rate_limit_exceeded' });
  if (w === undefined) assert.equal(o.retryAfter, null, 'no Retry-After for concurrency');
  else assertRetryAfter(o, w, t0, t1);
  t0 = Date.now();
  const a = await refused(anthropicCall(key, model));
  t1 = Date.now();
  assert.equal(a.status, 429);
  assert.deepEqual(a.error, { type: 'error', error: { type: 'rate_limit_error', message } });
  if (w === undefined) assert.equal(a.retryAfter, null);
  else assertRetryAfter(a, w, t0, t1);
}

const REQUEST_DIMS = [
  ['rps', 1],
  ['rpm', 60],
  ['rph', 3600],
  ['rpd', 86_400],
] as const;

for (const layer of ['key', 'model'] as const) {
  describe(`request windows on the ${layer}`, () => {
    for (const [dim, w] of REQUEST_DIMS) {
      test(`${dim} 2: two admitted (headers count down), the third refused in both envelopes`, async () => {
        const { key, model } = setup(layer, { [dim]: 2 });
        // A 1 s window may close mid-test on a loaded machine: then the whole sequence is
        // replayed in the next second (a fresh window), never asserted across the boundary.
        for (let round = 0; ; round++) {
          if (w === 1) await sleep(1000 - (Date.now() % 1000) + 5);
          else await roomIn(w, 4000);
          const start = Math.floor(Date.now() / 1000 / w);
          const t0 = Date.now();
          const first = await chat(key, model);
          const t1 = Date.now();
          const second = await chat(key, model);
          const h1 = rlHeaders(first.response.headers);
          const h2 = rlHeaders(second.response.headers);
          let failed: unknown;
          try {
            await assertRefusedBoth(key, model, REQUESTS, w);
          } catch (e) {
            failed = e;
          }
          if (Math.floor(Date.now() / 1000 / w) !== start && round < 3) continue;
          if (failed !== undefined) throw failed;
          // Only the configured family; `reset` is the time left in that window.
          assert.deepEqual(Object.keys(h1).sort(), [
            'x-ratelimit-limit-requests',
            'x-ratelimit-remaining-requests',
            'x-ratelimit-reset-requests',
          ]);
          assert.equal(h1['x-ratelimit-limit-requests'], '2');
          assert.equal(h1['x-ratelimit-remaining-requests'], '1');
          assert.equal(h2['x-ratelimit-remaining-requests'], '0');
          const reset = /^(\d+)s$/.exec(h1['x-ratelimit-reset-requests'] ?? '');
          assert.ok(reset, 'reset is "<n>s"');
          const n = Number(reset[1]);
          assert.ok(n >= secsLeft(w, t1) && n <= secsLeft(w, t0), `reset ${n}s`);
          return;
        }
      });
    }

    for (const [dim, w] of [
      ['tpm', 60],
      ['tpd', 86_400],
    ] as const) {
      test(`${dim} 20: admitted while committed ≤ 20 (12, then 24), then refused`, async () => {
        await roomIn(w, 4000);
        const { key, model } = setup(layer, { [dim]: 20 });
        const first = await chat(key, model);
        const h1 = rlHeaders(first.response.headers);
        assert.deepEqual(Object.keys(h1).sort(), [
          'x-ratelimit-limit-tokens',
          'x-ratelimit-remaining-tokens',
          'x-ratelimit-reset-tokens',
        ]);
        assert.equal(h1['x-ratelimit-limit-tokens'], '20');
        // A JSON answer's headers already count its own 12 tokens.
        assert.equal(h1['x-ratelimit-remaining-tokens'], '8');
        assert.match(h1['x-ratelimit-reset-tokens'] ?? '', /^\d+s$/);
        const second = await chat(key, model);
        assert.equal(rlHeaders(second.response.headers)['x-ratelimit-remaining-tokens'], '0');
        await assertRefusedBoth(key, model, TOKENS_MSG, w);
      });
    }

    test('concurrency 1: a second request is refused while a stream runs, admitted after it', async () => {
      // On the key layer the stream and the other requests may use different models; on the
      // model layer they share the (slow) model.
      const { key, model } = setup(layer, { concurrency: 1 }, 'slow-c');
      const other = layer === 'key' ? rig.model() : model;
      const { data: stream, response } = await rig
        .client(key)
        .chat.completions.create({ model, messages: hello, stream: true })
        .withResponse();
      assert.deepEqual(rlHeaders(response.headers), {
        'x-ratelimit-limit-concurrent': '1',
        'x-ratelimit-remaining-concurrent': '0',
      });
      const it = stream[Symbol.asyncIterator]();
      await it.next();
      await it.next();
      // Mid-stream: the slot is still held.
      await assertRefusedBoth(key, other, CONCURRENCY, undefined);
      let text = '';
      for (let r = await it.next(); r.done !== true; r = await it.next())
        text += r.value.choices[0]?.delta.content ?? '';
      assert.ok(text.length > 0);
      const next = await chat(key, other);
      assert.equal(next.response.status, 200);
      // A JSON answer's headers are read after its commit, which released its own slot (§9.6).
      assert.equal(rlHeaders(next.response.headers)['x-ratelimit-remaining-concurrent'], '1');
    });
  });
}

describe('0 allows nothing (decisions 12)', () => {
  for (const [limit, message] of [
    [{ rpm: 0 }, REQUESTS],
    [{ rps: 0 }, REQUESTS],
    [{ tpm: 0 }, TOKENS_MSG],
    [{ tpd: 0 }, TOKENS_MSG],
    [{ concurrency: 0 }, CONCURRENCY],
  ] as const) {
    for (const layer of ['key', 'model'] as const) {
      test(`${JSON.stringify(limit)} on the ${layer}: the first request is refused`, async () => {
        const { key, model } = setup(layer, limit);
        const n = rig.up.requests.length;
        const w = 'concurrency' in limit ? undefined : 'rps' in limit ? 1 : 'tpd' in limit ? 86_400 : 60;
        const o = await refused(chat(key, model));
        assert.equal(o.status, 429);
        assert.deepEqual(o.error, { message, type: 'rate_limit_exceeded' });
        if (w === undefined) assert.equal(o.retryAfter, null);
        else assert.ok(Number(o.retryAfter) >= 1 && Number(o.retryAfter) <= w);
        assert.equal(rig.up.requests.length, n, 'the upstream is never called');
      });
    }
  }
});

describe('x-ratelimit-* headers', () => {
  test('from the tightest layer, per family (key vs model vs window)', async () => {
    await roomIn(60, 4000);
    const key = rig.key({ rps: 50, rpm: 3, tpm: 100, concurrency: 5 });
    const model = rig.model({ rpm: 10, tpm: 1000, concurrency: 2 });
    const { response } = await chat(key, model);
    assert.deepEqual(rlHeaders(response.headers), {
      // rpm 3 on the key (2 left) is tighter than rps 50 and the model's rpm 10.
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '2',
      'x-ratelimit-reset-requests': response.headers.get('x-ratelimit-reset-requests') ?? '',
      'x-ratelimit-limit-tokens': '100',
      'x-ratelimit-remaining-tokens': '88',
      'x-ratelimit-reset-tokens': response.headers.get('x-ratelimit-reset-tokens') ?? '',
      // The model's cap of 2 is tighter than the key's 5; read after the commit (§9.6), which
      // released this request's slot: nothing else in flight, 2 left.
      'x-ratelimit-limit-concurrent': '2',
      'x-ratelimit-remaining-concurrent': '2',
    });
    const reset = Number(/^(\d+)s$/.exec(response.headers.get('x-ratelimit-reset-requests') ?? '')?.[1]);
    assert.ok(reset >= 1 && reset <= 60);
  });

  test('on every endpoint family and on streams', async () => {
    await roomIn(60, 4000);
    const key = rig.key({ rpm: 100 });
    const model = rig.model();
    const c = rig.client(key);
    const heads: Headers[] = [];
    heads.push(
      (await c.chat.completions.create({ model, messages: hello, stream: true }).withResponse()).response
        .headers,
    );
    heads.push((await c.completions.create({ model, prompt: 'hi' }).withResponse()).response.headers);
    heads.push((await c.embeddings.create({ model, input: 'hi' }).withResponse()).response.headers);
    heads.push((await c.responses.create({ model, input: 'hi' }).withResponse()).response.headers);
    heads.push(
      (await rig.anthropic(key).messages.create({ model, max_tokens: 5, messages: hello }).withResponse())
        .response.headers,
    );
    heads.push(
      (await c.post('/rerank', { body: { model, query: 'q', documents: ['a'] } }).withResponse()).response
        .headers,
    );
    heads.push((await c.images.generate({ model, prompt: 'a cat' }).withResponse()).response.headers);
    const remaining = heads.map((h) => h.get('x-ratelimit-remaining-requests'));
    assert.deepEqual(remaining, ['99', '98', '97', '96', '95', '94', '93']);
    for (const h of heads) assert.equal(h.get('x-ratelimit-limit-requests'), '100');
  });

  test('a JSON answer the upstream gave no usage for: its token headers count its estimated tokens', async () => {
    // §9.6: read after the commit. The gateway commits an estimate for such an answer (12.5), so
    // the head must already count it, as it counts a reported usage. Exact counts: encoding loaded.
    await preloadTokenizer('nousage-x');
    await roomIn(60, 4000);
    const model = rig.model(undefined, 'nousage-x');
    const key = rig.key({ tpm: 1000 });
    const left: number[] = [];
    for (let i = 0; i < 2; i++) {
      const { data, response } = await chat(key, model);
      assert.equal(data.choices[0]?.message.content, 'Hello!');
      left.push(Number(response.headers.get('x-ratelimit-remaining-tokens')));
    }
    const m = await rig
      .anthropic(key)
      .messages.create({ model, max_tokens: 16, messages: hello })
      .withResponse();
    left.push(Number(m.response.headers.get('x-ratelimit-remaining-tokens')));
    await sleep(100); // the token metrics are recorded in a short deferred batch
    const counted = await rig.tokensOf(model);
    assert.ok(counted !== undefined && counted > 0, 'the gateway counted estimated tokens');
    const perChat = 1000 - (left[0] as number);
    assert.ok(perChat > 0, `the first answer's own tokens are in its head (remaining ${left[0]})`);
    assert.equal(left[1], 1000 - 2 * perChat, 'each head is one answer below the previous');
    assert.equal(left[2], 1000 - counted, 'the last head is the limit less every token counted');
  });

  test('a request no limit applies to carries none (JSON, stream, /v1/messages)', async () => {
    rig.key({ rpm: 5 }); // limits exist in the config, just not for this caller and model
    const key = rig.key();
    const model = rig.model();
    const { response } = await chat(key, model);
    assert.deepEqual(rlHeaders(response.headers), {});
    const s = await rig
      .client(key)
      .chat.completions.create({ model, messages: hello, stream: true })
      .withResponse();
    for await (const _ of s.data);
    assert.deepEqual(rlHeaders(s.response.headers), {});
    const m = await rig
      .anthropic(key)
      .messages.create({ model, max_tokens: 5, messages: hello })
      .withResponse();
    assert.deepEqual(rlHeaders(m.response.headers), {});
  });
});

test('live apply: a key limit changed in the config applies to the next request, no restart', async () => {
  await roomIn(60, 4000);
  const key = rig.key({ rpm: 1 });
  const model = rig.model();
  await chat(key, model);
  assert.equal((await refused(chat(key, model))).status, 429);
  rig.setKeyLimit(key, { rpm: 3 });
  const { response } = await chat(key, model);
  // The same minute's counter: 2 of 3 used.
  assert.equal(response.headers.get('x-ratelimit-limit-requests'), '3');
  assert.equal(response.headers.get('x-ratelimit-remaining-requests'), '1');
  rig.setKeyLimit(key, { rpm: 0 });
  assert.equal((await refused(chat(key, model))).status, 429);
  rig.setKeyLimit(key, undefined);
  const free = await chat(key, model);
  assert.deepEqual(rlHeaders(free.response.headers), {});
});

test('aisix_ratelimit_rejections_total counts refusals by scope and layer', async () => {
  await roomIn(60, 4000);
  const before = {
    keyRequests: await rig.rejections('requests', 'api_key'),
    modelTokens: await rig.rejections('tokens', 'model'),
    keyConcurrency: await rig.rejections('concurrency', 'api_key'),
  };
  const k1 = rig.key({ rpm: 0 });
  const m = rig.model();
  await refused(chat(k1, m));
  await refused(chat(k1, m));
  const k2 = rig.key();
  const m2 = rig.model({ tpm: 0 });
  await refused(chat(k2, m2));
  const k3 = rig.key({ concurrency: 0 });
  await refused(chat(k3, m));
  assert.equal(await rig.rejections('requests', 'api_key'), before.keyRequests + 2);
  assert.equal(await rig.rejections('tokens', 'model'), before.modelTokens + 1);
  assert.equal(await rig.rejections('concurrency', 'api_key'), before.keyConcurrency + 1);
});

test('aisix_ratelimit_remaining_* show what the last admitted request of each key and model saw', async () => {
  await roomIn(60, 4000);
  const k1 = rig.key({ rpm: 50, tpm: 1_000_000 });
  const k2 = rig.key({ rpm: 40 });
  const m1 = rig.model();
  const m2 = rig.model({ rpm: 30, tpm: 900_000 });
  // Interleaved so that no two consecutive admissions share both key and model.
  const last = new Map<string, Record<string, string>>();
  for (const [k, m] of [
    [k1, m1],
    [k1, m1],
    [k2, m1],
    [k1, m2],
    [k1, m1],
    [k2, m2],
  ] as const) {
    last.set(`${k} ${m}`, rlHeaders((await chat(k, m)).response.headers));
  }
  const text = await (await fetch(`http://127.0.0.1:${rig.g.gw.metricsPort}/metrics`)).text();
  const gauge = (family: string, key: string, model: string): string | undefined => {
    const prefix = `${family}{api_key_id="${key}",model="${model}"} `;
    return text
      .split('\n')
      .find((l) => l.startsWith(prefix))
      ?.slice(prefix.length);
  };
  for (const [pair, h] of last) {
    const [k, m] = pair.split(' ') as [string, string];
    assert.equal(
      gauge('aisix_ratelimit_remaining_requests', k, m),
      // The tightest request window's remaining, as the head said (before the token commit).
      h['x-ratelimit-remaining-requests'],
      `requests gauge of ${pair}`,
    );
  }
  // Tokens: only where a token limit applies (k1, or m2), never for k2 on m1.
  assert.ok(gauge('aisix_ratelimit_remaining_tokens', k1, m1) !== undefined);
  assert.ok(gauge('aisix_ratelimit_remaining_tokens', k2, m2) !== undefined);
  assert.equal(gauge('aisix_ratelimit_remaining_tokens', k2, m1), undefined);
});

test('a wildcard model counts per requested name (bucket model:<requested name>)', async () => {
  await roomIn(60, 4000);
  const prefix = rig.uid('wc');
  rig.apply({
    models: {
      [prefix]: {
        display_name: `${prefix}/*`,
        provider: 'openai',
        model_name: 'up-*',
        provider_key_id: 'pko',
        rate_limit: { rpm: 1 },
      },
    },
  });
  const key = rig.key();
  await chat(key, `${prefix}/a`);
  assert.equal(rig.up.requests.at(-1)?.json?.model, 'up-a');
  const r = await refused(chat(rig.key(), `${prefix}/a`));
  assert.deepEqual(r.error, { message: REQUESTS, type: 'rate_limit_exceeded' });
  await chat(key, `${prefix}/b`);
  assert.equal(rig.up.requests.at(-1)?.json?.model, 'up-b');
});

test('data-plane §2 steps 9-10: a model the gateway cannot dispatch to is refused before the limits, using no quota', async () => {
  await roomIn(60, 4000);
  rig.apply({
    provider_keys: {
      'pk-nobase': { display_name: 'nobase', api_key: 'k', provider: 'groq', adapter: 'openai' },
      'pk-noadapter': {
        display_name: 'noadapter',
        api_key: 'k',
        provider: 'mystery',
        api_base: 'http://x/v1',
      },
    },
  });
  const healthy = rig.model();
  // One request a minute on the key and on each model: a refusal that used it would turn the
  // next identical request into a 429.
  const once = { rpm: 1 };
  const dangling = rig.model(once, 'gpt-x', { provider_key_id: 'missing-pk' });
  const nobase = rig.model(once, 'gpt-x', { provider: 'groq', provider_key_id: 'pk-nobase' });
  const noadapter = rig.model(once, 'gpt-x', { provider: 'mystery', provider_key_id: 'pk-noadapter' });
  const group = rig.uid('grp-');
  rig.apply({ models: { [group]: { display_name: group, routing: { targets: [{ model: healthy }] } } } });
  const key = rig.key(once);
  const cases: [string, number, () => Promise<unknown>][] = [
    ['unknown provider key', 400, () => chat(key, dangling)],
    ['vendor without api_base', 400, () => chat(key, nobase)],
    ['vendor without api_base, /v1/messages', 400, () => anthropicCall(key, nobase)],
    ['no adapter', 503, () => chat(key, noadapter)],
    ['a group on embeddings', 400, () => rig.client(key).embeddings.create({ model: group, input: 'x' })],
  ];
  for (const [what, status, call] of cases) {
    for (let i = 0; i < 2; i++)
      assert.equal((await refused(call())).status, status, `${what}, call ${i + 1}`);
  }
  const before = rig.up.requests.length;
  const ok = await chat(key, healthy);
  assert.equal(ok.response.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.equal(rig.up.requests.length, before + 1, 'no refused request reached an upstream');
  assert.equal((await refused(chat(key, healthy))).status, 429);
});
