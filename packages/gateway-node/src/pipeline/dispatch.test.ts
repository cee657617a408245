import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import type { RoutingView } from '../resources.js';
import { buildSnapshot, CALLER_KEY, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import { chatJson, json, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';
import { backoffMs } from '../upstream/failures.js';
import { attemptOrder, type CompiledGroup, fnv1a64 } from './routing.js';
import { TargetStats } from './target-stats.js';

let a: MockUpstream;
let b: MockUpstream;
let g: Started;

before(async () => {
  a = await startMockUpstream();
  b = await startMockUpstream(chatJson('from b'));
  const docs = standardDocs(a.url, {
    provider_keys: { pkb: { display_name: 'b', api_key: 'kb', provider: 'openai', api_base: `${b.url}/v1` } },
    models: {
      // No cooldown: each test here sees both targets, in order, whatever the previous one did
      // to them (cooldown is tested in health/health.test.ts).
      ta: {
        display_name: 'target-a',
        provider: 'openai',
        model_name: 'a',
        provider_key_id: 'pk1',
        cooldown: { enabled: false },
      },
      tb: {
        display_name: 'target-b',
        provider: 'openai',
        model_name: 'b',
        provider_key_id: 'pkb',
        cooldown: { enabled: false },
      },
      grp: {
        display_name: 'grp',
        routing: { strategy: 'failover', targets: [{ model: 'target-a' }, { model: 'target-b' }] },
      },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
});

after(async () => {
  await g.gw.close();
  await a.close();
  await b.close();
});

const call = () =>
  fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'grp', messages: [{ role: 'user', content: 'x' }] }),
  });

test('group fail-over: a 502 target falls over to the next; the winner is named; caller sees the group alias', async () => {
  a.handle((_req, res) => json(res, 500, { error: { message: 'down' } }));
  const r = await call();
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-aisix-served-by'), 'target-b');
  const body = (await r.json()) as { model: string; choices: { message: { content: string } }[] };
  assert.equal(body.model, 'grp');
  assert.equal(body.choices[0]?.message.content, 'from b');
});

test('group: a 400 from the first target stops without fail-over', async () => {
  a.handle((_req, res) => json(res, 400, { error: { message: 'bad', code: 'bad' } }));
  const before = b.requests.length;
  const r = await call();
  assert.equal(r.status, 400);
  assert.equal(b.requests.length, before);
});

test('every target fails: the last failure in a clean envelope, quickly (no delay between targets)', async () => {
  a.handle((_req, res) => json(res, 500, { error: { message: 'secret detail a' } }));
  b.handle((_req, res) => json(res, 503, { error: { message: 'secret detail b' } }));
  const client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  try {
    for (const stream of [false, true]) {
      const aBefore = a.requests.length;
      const bBefore = b.requests.length;
      const t0 = Date.now();
      const err = await client.chat.completions
        .create({ model: 'grp', messages: [{ role: 'user', content: 'x' }], stream })
        .then(() => assert.fail('expected every target to fail'))
        .catch((e: unknown) => e);
      assert.ok(Date.now() - t0 < 1000, `answered in ${Date.now() - t0} ms`);
      assert.ok(err instanceof OpenAI.APIError, String(err));
      assert.equal(err.status, 502);
      // data-plane §7.3: upstream 5xx → 502 upstream_error, the upstream body never echoed.
      assert.deepEqual(err.error, { message: 'upstream returned 503', type: 'upstream_error' });
      assert.equal(a.requests.length, aBefore + 1);
      assert.equal(b.requests.length, bBefore + 1);
    }
  } finally {
    b.handle(chatJson('from b'));
  }
});

const group = (id: string, routing: RoutingView): CompiledGroup => ({
  id,
  routing,
  targets: routing.targets.map((t) => ({
    alias: t.model,
    weight: Math.max(0, t.weight ?? 1),
    tags: t.tags,
    model: undefined,
    upstreamModel: '',
    cost: Number.POSITIVE_INFINITY,
  })),
  all: routing.targets.map((_, i) => i),
  tagged: false,
  defaults: [],
});

test('attempt order: failover, round_robin rotation, sticky weighted is deterministic', () => {
  const stats = new TargetStats();
  const order = (id: string, routing: RoutingView, key?: string) => {
    const g = group(id, routing);
    return attemptOrder(g, g.all, key, stats);
  };
  const targets = [{ model: 'x' }, { model: 'y' }, { model: 'z' }];
  assert.deepEqual(order('g1', { targets }), [0, 1, 2]);
  assert.deepEqual(order('g1', { targets, max_fallbacks: 1 }), [0, 1]);
  const rrGroup = group('rr', { strategy: 'round_robin', targets });
  const rr = [0, 1, 2, 3].map(() => attemptOrder(rrGroup, rrGroup.all, undefined, stats)[0]);
  assert.deepEqual(rr, [0, 1, 2, 0]);
  const w = {
    strategy: 'weighted',
    sticky: true,
    targets: [
      { model: 'x', weight: 1 },
      { model: 'y', weight: 3 },
    ],
  };
  const first = order('w', w, 'caller-7');
  assert.deepEqual(order('w', w, 'caller-7'), first);
  assert.equal(
    order('w', {
      targets: [
        { model: 'x', weight: 0 },
        { model: 'y', weight: 5 },
      ],
      strategy: 'weighted',
    })[0],
    1,
  );
  assert.equal(fnv1a64(''), 0xcbf29ce484222325n);
  assert.equal(fnv1a64('a'), 0xaf63dc4c8601ec8cn);
});

test('backoff: Retry-After within 5 s wins, else exponential capped at 2 s, plus jitter', () => {
  assert.equal(
    backoffMs(1, undefined, () => 0),
    250,
  );
  assert.equal(
    backoffMs(3, undefined, () => 0),
    1000,
  );
  assert.equal(
    backoffMs(9, undefined, () => 1),
    2250,
  );
  assert.equal(
    backoffMs(1, 3000, () => 0),
    3000,
  );
  assert.equal(
    backoffMs(1, 9000, () => 0),
    250,
  );
});
