/**
 * Model health and cooldown (data-plane §8.6, §8.4 step 5; control-plane §4.6, §6.2) through a
 * started gateway: mock upstreams are real local HTTP servers, callers use the official openai
 * SDK, `/status/models` and `/metrics` are read from the real status listener.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { errors } from '../errors.js';
import { buildSnapshot, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import { chatJson, json, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';
import type { AttemptFailure } from '../upstream/failures.js';
import {
  classifyFailure,
  cooldownMs,
  healthLevel,
  ModelHealthTracker,
  type ModelStatusRow,
} from './tracker.js';

let a: MockUpstream;
let b: MockUpstream;
let g: Started;
let client: OpenAI;

before(async () => {
  a = await startMockUpstream(chatJson('from a'));
  b = await startMockUpstream(chatJson('from b'));
  const docs = standardDocs(a.url, {
    provider_keys: { pkb: { display_name: 'b', api_key: 'kb', provider: 'openai', api_base: `${b.url}/v1` } },
    models: {
      ta: {
        display_name: 'target-a',
        provider: 'openai',
        model_name: 'a',
        provider_key_id: 'pk1',
        retries: 0,
      },
      tb: {
        display_name: 'target-b',
        provider: 'openai',
        model_name: 'b',
        provider_key_id: 'pkb',
        retries: 0,
      },
      tc: {
        display_name: 'target-c',
        provider: 'openai',
        model_name: 'c',
        provider_key_id: 'pk1',
        retries: 0,
        cooldown: { max_seconds: 60 },
      },
      // u64 seconds far past what a date can express (control-plane §3.2): "practically forever".
      tf: {
        display_name: 'target-forever',
        provider: 'openai',
        model_name: 'forever',
        provider_key_id: 'pk1',
        retries: 0,
        cooldown: { default_seconds: 9_000_000_000_000, max_seconds: 9_000_000_000_000 },
      },
      grp: {
        display_name: 'grp',
        routing: { strategy: 'failover', targets: [{ model: 'target-a' }, { model: 'target-b' }] },
      },
      td: {
        display_name: 'target-d',
        provider: 'openai',
        model_name: 'd',
        provider_key_id: 'pk1',
        retries: 0,
      },
      grpd: {
        display_name: 'grp-d',
        routing: { strategy: 'failover', targets: [{ model: 'target-d' }, { model: 'target-b' }] },
      },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
  client = new OpenAI({ apiKey: 'sk-all', baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await a.close();
  await b.close();
});

const statusUrl = () => `http://127.0.0.1:${g.gw.metricsPort}/status/models`;

async function statusOf(alias: string): Promise<ModelStatusRow> {
  const rows = (await (await fetch(statusUrl())).json()) as ModelStatusRow[];
  const row = rows.find((r) => r.display_name === alias);
  assert.ok(row, `no /status/models row for ${alias}`);
  return row;
}

async function chat(model: string): Promise<{ status: number; content?: string }> {
  try {
    const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] });
    return { status: 200, content: r.choices[0]?.message.content ?? '' };
  } catch (err) {
    if (err instanceof OpenAI.APIError) return { status: err.status ?? 0 };
    throw err;
  }
}

/** Answers 429 with `Retry-After: 180` for upstream model `model`, 200 for the others. */
const rateLimit = (model: string) =>
  ((req, res) => {
    if (req.json?.model === model)
      return json(res, 429, { error: { message: 'slow down' } }, { 'retry-after': '180' });
    return chatJson(`from ${String(req.json?.model)}`)(req, res);
  }) satisfies Parameters<MockUpstream['handle']>[0];

test('a 429 with Retry-After: 180 cools a group target down until ≈ now+180 s; the next group request goes to the other target', async () => {
  a.handle(rateLimit('a'));
  const t0 = Date.now();
  const first = await chat('grp');
  // retry_on_429 is off: the 429 is answered, not failed over; the target still cools down.
  assert.equal(first.status, 429);
  const row = await statusOf('target-a');
  assert.equal(row.status, 'cooldown');
  assert.equal(row.status_reason, 'upstream_rate_limited');
  const until = Date.parse(row.cooldown_until ?? '');
  assert.ok(Math.abs(until - (t0 + 180_000)) < 5_000, `cooldown_until ${row.cooldown_until}`);
  assert.match(row.cooldown_until ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal((await statusOf('grp')).status, 'not_applicable');
  assert.equal((await statusOf('target-b')).status, 'healthy');

  a.handle(chatJson('from a'));
  const aBefore = a.requests.length;
  const bBefore = b.requests.length;
  const raw = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-all', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'grp', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(raw.status, 200);
  assert.equal(raw.headers.get('x-aisix-served-by'), 'target-b');
  assert.equal(a.requests.length, aBefore, 'the cooled-down target got a group request');
  assert.equal(b.requests.length, bBefore + 1);

  const metrics = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
  assert.match(
    metrics,
    /^aisix_deployment_cooled_down_total\{provider="openai",model="target-a",upstream_model="a",provider_key_id="pk1"\} 1$/m,
  );
  assert.match(metrics, /^aisix_deployment_state\{provider="openai",model="target-a",[^}]*\} 1$/m);
});

test('a direct model in cooldown still receives traffic; its success clears the cooldown (/status/models healthy)', async () => {
  assert.equal((await statusOf('target-a')).status, 'cooldown');
  const aBefore = a.requests.length;
  const r = await chat('target-a');
  assert.deepEqual(r, { status: 200, content: 'from a' });
  assert.equal(a.requests.length, aBefore + 1);
  const row = await statusOf('target-a');
  assert.deepEqual(row, { id: 'ta', display_name: 'target-a', kind: 'direct', status: 'healthy' });
  // Healthy again: the group starts at target-a once more.
  const bBefore = b.requests.length;
  assert.deepEqual(await chat('grp'), { status: 200, content: 'from a' });
  assert.equal(b.requests.length, bBefore);
});

test('a 401 is not failed over, yet it cools the target down: the next group request skips it (data-plane §8.6)', async () => {
  b.handle(chatJson('from b'));
  a.handle((req, res) =>
    req.json?.model === 'd'
      ? json(res, 401, { error: { message: 'Incorrect API key provided', code: 'invalid_api_key' } })
      : chatJson('from a')(req, res),
  );
  const bBefore = b.requests.length;
  const err = await client.chat.completions
    .create({ model: 'grp-d', messages: [{ role: 'user', content: 'x' }] })
    .then(() => assert.fail('expected the upstream 401'))
    .catch((e: unknown) => e);
  assert.ok(err instanceof OpenAI.APIError);
  assert.equal(err.status, 401);
  assert.equal(err.code, 'invalid_api_key');
  assert.equal(b.requests.length, bBefore, 'a 401 is not retryable: no fail-over');
  const row = await statusOf('target-d');
  assert.equal(row.status, 'cooldown');
  assert.equal(row.status_reason, 'upstream_auth_failure');
  const dCalls = () => a.requests.filter((r) => r.json?.model === 'd').length;
  const dBefore = dCalls();
  assert.deepEqual(await chat('grp-d'), { status: 200, content: 'from b' });
  assert.equal(dCalls(), dBefore, 'the cooling target got no group request');
  a.handle(chatJson('from a'));
});

test('Retry-After beyond max_seconds is clamped to it', async () => {
  a.handle(rateLimit('c'));
  const t0 = Date.now();
  assert.equal((await chat('target-c')).status, 429);
  const row = await statusOf('target-c');
  assert.equal(row.status, 'cooldown');
  const until = Date.parse(row.cooldown_until ?? '');
  assert.ok(Math.abs(until - (t0 + 60_000)) < 5_000, `cooldown_until ${row.cooldown_until}`);
  a.handle(chatJson('from c'));
  assert.equal((await chat('target-c')).status, 200);
  assert.equal((await statusOf('target-c')).status, 'healthy');
});

test('a cooldown longer than a date can express: /status/models still answers, cooldown_until stays RFC 3339', async () => {
  a.handle((req, res) => {
    if (req.json?.model === 'forever') return json(res, 500, { error: { message: 'down' } });
    return chatJson('from a')(req, res);
  });
  assert.equal((await chat('target-forever')).status, 502);
  const res = await fetch(statusUrl());
  assert.equal(res.status, 200, await res.clone().text());
  const row = await statusOf('target-forever');
  assert.equal(row.status, 'cooldown');
  assert.match(row.cooldown_until ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Date.parse(row.cooldown_until ?? '') > Date.now() + 1000 * 365 * 86_400_000, row.cooldown_until);
  // A success still ends it.
  a.handle(chatJson('from forever'));
  assert.deepEqual(await chat('target-forever'), { status: 200, content: 'from forever' });
  assert.equal((await statusOf('target-forever')).status, 'healthy');
});

test('cooldown alone never empties a group: with every target cooling, the group still tries them in order', async () => {
  a.handle((_req, res) => json(res, 503, { error: { message: 'down' } }));
  b.handle((_req, res) => json(res, 503, { error: { message: 'down' } }));
  // 5xx fails over: both targets fail once and cool down (default 30 s).
  assert.equal((await chat('grp')).status, 502);
  assert.equal((await statusOf('target-a')).status, 'cooldown');
  assert.equal((await statusOf('target-b')).status, 'cooldown');
  assert.equal((await statusOf('target-b')).status_reason, 'upstream_server_error');
  b.handle(chatJson('from b'));
  const aBefore = a.requests.length;
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-all', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'grp', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-aisix-served-by'), 'target-b');
  assert.equal(a.requests.length, aBefore + 1, 'target-a (cooling) was still tried first');
  assert.equal((await statusOf('target-b')).status, 'healthy');
  assert.equal((await statusOf('target-a')).status, 'cooldown');
  // target-b healthy, target-a cooling: the group now skips target-a.
  const aThen = a.requests.length;
  assert.deepEqual(await chat('grp'), { status: 200, content: 'from b' });
  assert.equal(a.requests.length, aThen);
  a.handle(chatJson('from a'));
  assert.equal((await chat('target-a')).status, 200);
});

test('admin health levels: 4 consecutive failures → 1, 8 → 2, a success → 0 (tracker of the started gateway)', async () => {
  a.handle((_req, res) => json(res, 500, { error: { message: 'boom' } }));
  const snap = g.source.current();
  const levels: number[] = [];
  for (let i = 0; i < 9; i++) {
    assert.equal((await chat('target-a')).status, 502);
    levels.push(g.gw.health.healthByName(snap, 'target-a'));
  }
  assert.deepEqual(levels, [0, 0, 0, 1, 1, 1, 1, 2, 2]);
  a.handle(chatJson('from a'));
  assert.equal((await chat('target-a')).status, 200);
  assert.equal(g.gw.health.healthByName(snap, 'target-a'), 0);
  // A caller-fault 4xx (400) neither counts nor resets.
  a.handle((_req, res) => json(res, 400, { error: { message: 'bad' } }));
  for (let i = 0; i < 5; i++) assert.equal((await chat('target-a')).status, 400);
  assert.equal(g.gw.health.healthByName(snap, 'target-a'), 0);
  assert.equal((await statusOf('target-a')).status, 'healthy');
  a.handle(chatJson('from a'));
});

const failure = (over: Partial<AttemptFailure>): AttemptFailure => ({
  error: errors.upstream5xx(500),
  retryable: true,
  timeout: false,
  ...over,
});

test('classification and cooldown length follow the model cooldown settings', () => {
  assert.equal(classifyFailure(failure({ status: 401 }))?.reason, 'upstream_auth_failure');
  assert.equal(classifyFailure(failure({ status: 408 }))?.reason, 'upstream_request_timeout');
  assert.equal(classifyFailure(failure({ status: 418 }))?.reason, 'upstream_status_failure');
  assert.equal(
    classifyFailure(failure({ timeout: true, error: errors.timeout(5) }))?.reason,
    'request_timeout',
  );
  assert.equal(classifyFailure(failure({ error: errors.transport() }))?.reason, 'transport_error');
  assert.equal(classifyFailure(failure({ error: errors.streamDropped() }))?.reason, 'transport_error');
  assert.equal(classifyFailure(failure({ error: errors.decode('x') }))?.reason, 'upstream_decode_error');
  assert.equal(
    classifyFailure(failure({ error: errors.inBandUpstream({ message: 'x' }) }))?.reason,
    'upstream_in_band_error',
  );
  assert.equal(classifyFailure(failure({ error: errors.internal() })), undefined);

  assert.equal(cooldownMs(undefined, failure({ status: 500 })), 30_000);
  assert.equal(cooldownMs(undefined, failure({ status: 400 })), 0);
  assert.equal(cooldownMs(undefined, failure({ status: 429, retryAfterMs: 5_000 })), 5_000);
  assert.equal(cooldownMs(undefined, failure({ status: 429, retryAfterMs: 3_600_000 })), 600_000);
  assert.equal(
    cooldownMs({ honor_retry_after: false }, failure({ status: 429, retryAfterMs: 5_000 })),
    30_000,
  );
  assert.equal(cooldownMs({ enabled: false }, failure({ status: 500 })), 0);
  assert.equal(cooldownMs({ default_seconds: 0 }, failure({ status: 500 })), 0);
  assert.equal(cooldownMs({ trigger_statuses: [418] }, failure({ status: 418 })), 30_000);
  assert.equal(cooldownMs({ trigger_statuses: [418] }, failure({ status: 500 })), 0);
  assert.equal(
    cooldownMs({ trigger_on_timeout: false }, failure({ timeout: true, error: errors.timeout(1) })),
    0,
  );
  assert.equal(cooldownMs({ trigger_on_transport: false }, failure({ error: errors.transport() })), 0);
  assert.equal(cooldownMs({ default_seconds: 900, max_seconds: 120 }, failure({ status: 500 })), 120_000);
  assert.deepEqual([3, 4, 7, 8, 100].map(healthLevel), [0, 1, 1, 2, 2]);
});

test('cooldown expires with the clock (no timers); the filter keeps the input when nothing cools', () => {
  let now = 1_000_000;
  const t = new ModelHealthTracker(() => now);
  const model = { id: 'x', value: { display_name: 'x' } } as unknown as Parameters<
    ModelHealthTracker['recordFailure']
  >[0];
  const ids = ['x', 'y'];
  assert.equal(
    t.healthFilter(ids, (s) => s),
    ids,
  );
  t.recordFailure(model, failure({ status: 503 }));
  assert.equal(t.inCooldown('x'), true);
  assert.deepEqual(
    t.healthFilter(ids, (s) => s),
    ['y'],
  );
  assert.deepEqual(
    t.healthFilter(['x'], (s) => s),
    ['x'],
  );
  now += 30_001;
  assert.equal(t.inCooldown('x'), false);
  assert.equal(
    t.healthFilter(ids, (s) => s),
    ids,
  );
});

test('a wildcard model is one deployment: names callers pick never become deployment series', async () => {
  // `mock/*` (standard docs) serves `up-<name>` from upstream a; every name fails with a 503.
  a.handle((_req, res) => json(res, 503, { error: { message: 'overloaded' } }));
  const series = async () => {
    const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
    return text.split('\n').filter((l) => /^aisix_deployment_\w+\{[^}]*model="mock\/\*"/.test(l));
  };
  assert.equal((await chat('mock/first')).status, 502);
  const first = await series();
  assert.equal(first.length, 2, first.join('\n'));
  for (const name of ['mock/second', 'mock/third']) assert.equal((await chat(name)).status, 502);
  const later = await series();
  // Same labels after other names failed: the label set belongs to the model, not the caller.
  const labelsOf = (ls: string[]) => ls.map((l) => l.slice(0, l.lastIndexOf('}') + 1));
  assert.deepEqual(labelsOf(later), labelsOf(first));
  assert.ok(!later.some((l) => /upstream_model="up-(first|second|third)"/.test(l)), later.join('\n'));
  a.handle(chatJson('from a'));
});
