/**
 * Background model checks and their effect on routing (data-plane §8.6, §8.4 step 5,
 * `when_all_unavailable`) through a started gateway: two mock upstreams (real local HTTP
 * servers) tell checks (the configured prompt) from traffic, callers use the official openai
 * SDK, and `/status/models` is read from the real status listener and checked field by field
 * against control-plane §6.2.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Resource } from '@aisix/core';
import OpenAI from 'openai';
import { errors } from '../errors.js';
import { buildSnapshot, type Docs, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import { chatJson, json, type MockUpstream, sleep, startMockUpstream } from '../test/mock-upstream.js';
import { MAX_CONCURRENT_CHECKS } from './background.js';
import { ModelHealthTracker } from './tracker.js';

const PROMPT = 'health-ping';
let a: MockUpstream;
let b: MockUpstream;
let g: Started;
let client: OpenAI;
/** Status each upstream model answers its checks with (default 200). */
const checkStatus = new Map<string, number>();
let checksNow = 0;
let checksMax = 0;

const checkAware =
  (content: string): Parameters<MockUpstream['handle']>[0] =>
  async (req, res) => {
    const messages = req.json?.messages as { content?: string }[] | undefined;
    if (messages?.[0]?.content !== PROMPT) return chatJson(content)(req, res);
    checksNow++;
    checksMax = Math.max(checksMax, checksNow);
    await sleep(100);
    checksNow--;
    const s = checkStatus.get(String(req.json?.model)) ?? 200;
    if (s === 200) return chatJson('pong')(req, res);
    json(res, s, { error: { message: 'check failed' } });
  };

const check = (extra: Record<string, unknown> = {}) => ({
  enabled: true,
  interval_seconds: 5,
  timeout_seconds: 2,
  prompt: PROMPT,
  max_tokens: 1,
  stale_after_seconds: 120,
  ...extra,
});

const direct = (name: string, pk: string, bmc?: Record<string, unknown>) => ({
  display_name: name,
  provider: 'openai',
  model_name: name,
  provider_key_id: pk,
  retries: 0,
  ...(bmc ? { background_model_check: bmc } : {}),
});

function docs(liveCheck: boolean): Docs {
  return standardDocs(a.url, {
    provider_keys: { pkb: { display_name: 'b', api_key: 'kb', provider: 'openai', api_base: `${b.url}/v1` } },
    models: {
      da: direct('da', 'pk1', check()),
      db: direct('db', 'pkb', check()),
      dstale: direct('dstale', 'pk1', check({ stale_after_seconds: 1 })),
      dignore: direct('dignore', 'pkb', check({ ignore_statuses: [429] })),
      dlive: direct('dlive', 'pkb', check({ enabled: liveCheck })),
      // Five checks due at start: one must wait for a free slot.
      dextra: direct('dextra', 'pk1', check()),
      // A deadline past what a timer holds (~24.8 days): "practically none", not 1 ms.
      dlong: direct('dlong', 'pkb', check({ timeout_seconds: 3_000_000 })),
      tb: direct('tb', 'pkb'),
      g1: { display_name: 'g1', routing: { targets: [{ model: 'da' }, { model: 'tb' }] } },
      dead: { display_name: 'dead', routing: { targets: [{ model: 'da' }, { model: 'db' }] } },
      anyway: {
        display_name: 'anyway',
        routing: { targets: [{ model: 'da' }, { model: 'db' }], when_all_unavailable: 'try_anyway' },
      },
    },
  });
}

before(async () => {
  checkStatus.set('da', 500);
  checkStatus.set('db', 503);
  checkStatus.set('dstale', 502);
  checkStatus.set('dignore', 429);
  a = await startMockUpstream(checkAware('from a'));
  b = await startMockUpstream(checkAware('from b'));
  g = await startTestGateway(buildSnapshot(docs(false)));
  client = new OpenAI({ apiKey: 'sk-all', baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await Promise.all([a.close(), b.close()]);
});

/** A `/status/models` row as JSON (checked against the spec by `assertRowShape`). */
type Row = Record<string, unknown>;

async function rows(): Promise<Row[]> {
  const r = await fetch(`http://127.0.0.1:${g.gw.metricsPort}/status/models`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  return (await r.json()) as Row[];
}

async function row(alias: string): Promise<Row> {
  const found = (await rows()).find((r) => r.display_name === alias);
  assert.ok(found, `no row for ${alias}`);
  return found;
}

async function until(what: string, ms: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const REASONS = [
  'upstream_auth_failure',
  'upstream_request_timeout',
  'upstream_rate_limited',
  'upstream_server_error',
  'upstream_status_failure',
  'request_timeout',
  'transport_error',
  'upstream_decode_error',
  'upstream_in_band_error',
];

/** Control-plane §6.2: the row's fields, their types and values, nothing else. */
function assertRowShape(r: Record<string, unknown>): void {
  const allowed = [
    'id',
    'display_name',
    'kind',
    'status',
    'cooldown_until',
    'last_checked_at',
    'last_check_status',
    'status_reason',
  ];
  for (const k of Object.keys(r)) assert.ok(allowed.includes(k), `unexpected field ${k}`);
  assert.equal(typeof r.id, 'string');
  assert.equal(typeof r.display_name, 'string');
  assert.ok(['direct', 'routing', 'ensemble', 'semantic'].includes(String(r.kind)));
  assert.ok(['healthy', 'unhealthy', 'cooldown', 'not_applicable'].includes(String(r.status)));
  if (r.kind !== 'direct') assert.deepEqual(Object.keys(r).sort(), ['display_name', 'id', 'kind', 'status']);
  if (r.kind !== 'direct') assert.equal(r.status, 'not_applicable');
  if ('cooldown_until' in r) assert.match(String(r.cooldown_until), RFC3339);
  if ('last_checked_at' in r) assert.match(String(r.last_checked_at), RFC3339);
  if ('last_check_status' in r) assert.ok(Number.isInteger(r.last_check_status));
  if ('status_reason' in r) assert.ok(REASONS.includes(String(r.status_reason)), String(r.status_reason));
}

async function chat(model: string): Promise<{ status: number; content?: string; headers?: Headers }> {
  try {
    const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] });
    return { status: 200, content: r.choices[0]?.message.content ?? '' };
  } catch (err) {
    if (err instanceof OpenAI.APIError) return { status: err.status ?? 0, headers: err.headers as Headers };
    throw err;
  }
}

test('a failing check marks the target unhealthy (status, reason, last check) and groups skip it; direct traffic still flows', async () => {
  const t0 = Date.now();
  await until('da unhealthy', 5_000, async () => (await row('da')).status === 'unhealthy');
  const r = await row('da');
  assertRowShape(r);
  assert.equal(r.last_check_status, 500);
  assert.equal(r.status_reason, 'upstream_server_error');
  assert.ok(Math.abs(Date.parse(String(r.last_checked_at)) - t0) < 10_000);
  assert.equal(r.cooldown_until, undefined);
  for (const x of await rows()) assertRowShape(x);

  const traffic = () =>
    a.requests.filter(
      (q) => (q.json?.messages as { content?: string }[] | undefined)?.[0]?.content !== PROMPT,
    );
  const before = traffic().length;
  assert.deepEqual(await chat('g1'), { status: 200, content: 'from b' });
  assert.equal(traffic().length, before, 'the unhealthy target got group traffic');
  // A direct model is never filtered.
  assert.deepEqual(await chat('da'), { status: 200, content: 'from a' });
});

test('when_all_unavailable: fail → 503 all_candidates_unavailable with Retry-After: 30; try_anyway → tried', async () => {
  await until('db unhealthy', 5_000, async () => (await row('db')).status === 'unhealthy');
  assert.equal((await row('db')).status_reason, 'upstream_server_error');
  const raw = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-all', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'dead', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(raw.status, 503);
  assert.equal(raw.headers.get('retry-after'), '30');
  const body = (await raw.json()) as { error: { type: string; message: string } };
  assert.equal(body.error.type, 'all_candidates_unavailable');
  assert.equal(body.error.message, 'all routing candidates are unavailable');
  const viaSdk = await chat('dead');
  assert.equal(viaSdk.status, 503);
  assert.deepEqual(await chat('anyway'), { status: 200, content: 'from a' });
});

test('ignore_statuses: a check answered with an ignored status passes (healthy, status recorded)', async () => {
  await until('dignore checked', 5_000, async () => (await row('dignore')).last_check_status !== undefined);
  const r = await row('dignore');
  assert.equal(r.status, 'healthy');
  assert.equal(r.last_check_status, 429);
  assert.equal(r.status_reason, undefined);
});

test('timeout_seconds past the timer range: a slow passing check passes, it does not time out', async () => {
  await until('dlong checked', 5_000, async () => (await row('dlong')).last_checked_at !== undefined);
  const r = await row('dlong');
  assert.equal(r.status, 'healthy');
  assert.equal(r.last_check_status, 200);
  assert.equal(r.status_reason, undefined);
});

test('a failed check stops counting after stale_after_seconds', async () => {
  // Wait for a fresh check of dstale (one per 5 s), see it unhealthy, then healthy 1 s later.
  const last = (await row('dstale')).last_checked_at;
  await until('a new dstale check', 8_000, async () => (await row('dstale')).last_checked_at !== last);
  assert.equal((await row('dstale')).status, 'unhealthy');
  await sleep(1_200);
  const r = await row('dstale');
  assert.equal(r.status, 'healthy');
  assert.equal(r.last_check_status, 502);
});

test('checks are enabled live from the snapshot; at most 4 run at once', async () => {
  assert.equal((await row('dlive')).last_checked_at, undefined);
  g.source.set(buildSnapshot(docs(true), 2));
  await until('dlive checked', 3_000, async () => (await row('dlive')).last_checked_at !== undefined);
  assert.equal((await row('dlive')).status, 'healthy');
  assert.ok(checksMax <= MAX_CONCURRENT_CHECKS, `${checksMax} checks at once`);
  assert.ok(checksMax >= 2, 'checks never overlapped');
  assert.equal((await row('dextra')).last_check_status, 200);
});

test('a dead target is brought back by its next passing check; the group uses it again', async () => {
  checkStatus.set('da', 200);
  await until('da healthy', 8_000, async () => (await row('da')).status === 'healthy');
  const r = await row('da');
  assert.equal(r.last_check_status, 200);
  assert.equal(r.status_reason, undefined);
  assertRowShape(r);
  assert.deepEqual(await chat('g1'), { status: 200, content: 'from a' });
});

/** A direct model as the snapshot serves it. */
function storedModel(id: string, extra: Record<string, unknown> = {}): Resource<'models'> {
  const snap = buildSnapshot(
    standardDocs('http://127.0.0.1:9', { models: { [id]: { ...direct(id, 'pk1'), ...extra } } }),
  );
  const m = snap.byId('models').get(id);
  assert.ok(m);
  return m;
}

test('candidate tiers: healthy first, else cooling, else (all unhealthy) nothing or everything with try_anyway; stale checks stop counting', () => {
  let now = 1_000_000;
  const t = new ModelHealthTracker(() => now);
  const model = storedModel;
  const ids = ['u', 'c', 'h'];
  const f = (xs: string[], tryAnyway = false) => t.healthFilter(xs, (x) => x, tryAnyway);
  t.recordCheck(model('u'), 503, 'upstream_server_error', 10_000);
  t.recordFailure(model('c'), {
    error: errors.upstream5xx(500),
    retryable: true,
    timeout: false,
    status: 500,
  });
  assert.deepEqual(f(ids), ['h']);
  assert.deepEqual(f(['u', 'c']), ['c']);
  assert.equal(f(['u']), undefined);
  assert.deepEqual(f(['u'], true), ['u']);
  // Unhealthy outranks cooldown for a target that is both.
  t.recordFailure(model('u'), {
    error: errors.upstream5xx(500),
    retryable: true,
    timeout: false,
    status: 500,
  });
  assert.equal(t.targetStatus('u'), 'unhealthy');
  assert.deepEqual(f(['u', 'c']), ['c']);
  now += 10_001;
  assert.equal(t.targetStatus('u'), 'cooldown');
  assert.deepEqual(f(['u', 'c']), ['u', 'c']);
});

test('the pod view merges worker dumps: latest cooldown, most recent check, worst failure count', () => {
  const now = 5_000_000;
  const w1 = new ModelHealthTracker(() => now - 1000);
  const w2 = new ModelHealthTracker(() => now);
  const m = storedModel('x', { cooldown: { default_seconds: 10 } });
  const fail = { error: errors.upstream5xx(502), retryable: true, timeout: false, status: 502 } as const;
  for (let i = 0; i < 5; i++) w1.recordFailure(m, fail);
  w1.recordCheck(m, 503, 'upstream_server_error', 60_000);
  w2.recordFailure(m, { ...fail, status: 429, error: errors.upstream5xx(502) });
  w2.recordCheck(m, 200, undefined, 60_000);
  const pod = ModelHealthTracker.merged(
    JSON.parse(JSON.stringify([w1.dump(), w2.dump()])) as ReturnType<ModelHealthTracker['dump']>[],
    () => now,
  );
  const s = pod.state('x');
  assert.equal(s?.consecutiveFailures, 5);
  assert.equal(s?.cooldownUntil, now + 10_000);
  assert.equal(s?.reason, 'upstream_rate_limited');
  assert.equal(s?.lastCheckStatus, 200);
  assert.equal(pod.targetStatus('x'), 'cooldown');
  assert.equal(s?.cooledDown, 6);
  assert.equal(pod.health('x'), 1);
});
