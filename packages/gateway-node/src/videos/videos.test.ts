/**
 * `/v1/videos` inside one started gateway (real listeners, a local DashScope-shaped upstream):
 * usage events (one zero-token event per submit that reached the provider, an error event for a
 * failed submit, none for polls or unsupported providers), input guardrails on the prompt, the
 * key quota on polls, the IP allowlist and the raw task-id guard behind the id, deadlines and
 * the retry budget on transport failures. The e2e suite (`e2e/src/videos*.test.ts`) covers
 * the wire formats through real processes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, type Docs, type Started, sha256, startTestGateway } from '../test/fixtures.js';
import { type RawBehaviour, type RawUpstream, sendJsonBody, startRawUpstream } from '../test/mock-raw.js';
import { collectingSink } from '../test/usage-sink.js';
import type { UsageEvent } from '../usage/events.js';
import { decodeVideoId, encodeVideoId } from './id.js';

const KEY = 'sk-video-caller';
const LIMITED = 'sk-video-limited';
const NARROW = 'sk-video-narrow';
const SUBMIT = '/api/v1/services/aigc/video-generation/video-synthesis';

let up: RawUpstream;
let g: Started;
const sink = collectingSink();
const events = sink.events;

const routes = new Map<string, RawBehaviour>();
const on = (path: string, b: RawBehaviour) => routes.set(path, b);
const submitted =
  (task: string): RawBehaviour =>
  (_q, res) =>
    sendJsonBody(res, 200, { output: { task_id: task, task_status: 'PENDING' } });

function docs(extra: Docs & Record<string, unknown> = {}): Docs {
  const direct = { provider: 'alibaba', provider_key_id: 'pk-dash' };
  return {
    provider_keys: {
      'pk-dash': {
        display_name: 'dash-key',
        api_key: 'sk-dash',
        provider: 'alibaba',
        adapter: 'openai',
        api_base: up.url,
      },
      'pk-sora': {
        display_name: 'sora-key',
        api_key: 'sk-sora',
        provider: 'openai',
        api_base: up.url,
      },
      'pk-dead': {
        display_name: 'dead-key',
        api_key: 'sk-dead',
        provider: 'alibaba',
        adapter: 'openai',
        api_base: 'http://127.0.0.1:1',
      },
    },
    models: {
      'm-wan': { display_name: 'wan', model_name: 'wan-t2v', ...direct },
      'm-slow': { display_name: 'wan-slow', model_name: 'wan-t2v', timeout: 200, ...direct },
      'm-slow-retry': {
        display_name: 'wan-slow-retry',
        model_name: 'wan-t2v',
        timeout: 200,
        retries: 1,
        ...direct,
      },
      'm-dead': {
        display_name: 'wan-dead',
        model_name: 'wan-t2v',
        provider: 'alibaba',
        provider_key_id: 'pk-dead',
        retries: 1,
      },
      'm-cidr': {
        display_name: 'wan-office',
        model_name: 'wan-t2v',
        allowed_cidrs: ['10.0.0.0/8'],
        ...direct,
      },
      'm-wild': { display_name: 'wan/*', model_name: 'wan-$1', ...direct },
      'm-sora': {
        display_name: 'sora',
        model_name: 'sora-2',
        provider: 'openai',
        provider_key_id: 'pk-sora',
      },
      'm-other': {
        display_name: 'mistral-video',
        model_name: 'x',
        provider: 'mistral',
        provider_key_id: 'pk-dash',
      },
    },
    api_keys: {
      k1: { key_hash: sha256(KEY), allowed_models: ['*'] },
      k2: { key_hash: sha256(LIMITED), allowed_models: ['*'], rate_limit: { rpm: 2 } },
      k3: { key_hash: sha256(NARROW), allowed_models: ['wan', 'wan/turbo'] },
    },
    ...extra,
  };
}

before(async () => {
  up = await startRawUpstream((req, res) => {
    const b = routes.get(req.url);
    if (b) return b(req, res);
    sendJsonBody(res, 404, { error: { code: 'not_found', message: req.url } });
  });
  g = await startTestGateway(buildSnapshot(docs()));
  g.gw.usage.attach(sink);
});

after(async () => {
  await g.gw.close();
  await up.close();
});

interface Answer {
  readonly id: string;
  readonly seconds?: string;
  readonly size?: string;
  readonly error: { readonly message: string; readonly type: string; readonly code?: string };
}

async function call(method: 'GET' | 'POST', path: string, body?: unknown, key = KEY) {
  const r = await fetch(`${g.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return {
    status: r.status,
    id: r.headers.get('x-aisix-request-id') ?? '',
    json: JSON.parse(text) as Answer,
  };
}

async function eventsOf(requestId: string, settleMs = 300): Promise<UsageEvent[]> {
  await new Promise((r) => setTimeout(r, settleMs));
  return events.filter((e) => e.request_id === requestId);
}

test('video ids: round trip with `:` in the task id; strict decoding', () => {
  const ref = { modelId: 'm-1', requestedName: 'wan/türbo', taskId: 'ns:task:42' };
  const id = encodeVideoId(ref);
  assert.match(id, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeVideoId(id), ref);
  for (const bad of [
    `${id}=`,
    `${id}!`,
    '',
    Buffer.from('m::t').toString('base64url'),
    Buffer.from(':d2Fu:t').toString('base64url'),
  ])
    assert.equal(decodeVideoId(bad), undefined, bad);
  // Non-canonical trailing bits decode to the same bytes: refused.
  const canonical = Buffer.from('ab').toString('base64url');
  assert.equal(decodeVideoId(`${canonical.slice(0, -1)}x`), undefined);
});

test('a JSON submit that reached the provider: one zero-token event for the Model and PK; a poll emits none', async () => {
  on(SUBMIT, submitted('t-1'));
  const s = await call('POST', '/v1/videos', { model: 'wan', prompt: 'a fox', seconds: 5, size: '640x480' });
  assert.equal(s.status, 200);
  assert.equal(s.json.seconds, '5');
  assert.equal(s.json.size, '640x480');
  const [e, ...rest] = await eventsOf(s.id);
  assert.equal(rest.length, 0);
  assert.ok(e);
  assert.equal(e.status_code, 200);
  assert.equal(e.model_id, 'm-wan');
  assert.equal(e.requested_model, 'wan');
  assert.equal(e.pk_label, 'dash-key');
  assert.equal(e.provider_kind, 'alibaba');
  assert.equal(e.prompt_tokens + e.completion_tokens, 0);
  assert.equal(e.inbound_protocol, 'openai');
  assert.equal(e.endpoint, '/v1/videos');
  on('/api/v1/tasks/t-1', (_q, res) => sendJsonBody(res, 200, { output: { task_status: 'RUNNING' } }));
  const p = await call('GET', `/v1/videos/${s.json.id}`);
  assert.equal(p.status, 200);
  assert.deepEqual(await eventsOf(p.id), []);
});

test('a failed submit emits an error event; an unsupported provider (501) emits none', async () => {
  on(SUBMIT, (_q, res) => sendJsonBody(res, 422, { code: 'InvalidParameter', message: 'bad duration' }));
  const s = await call('POST', '/v1/videos', { model: 'wan', prompt: 'a fox' });
  assert.equal(s.status, 422);
  assert.deepEqual(s.json, { error: { message: 'InvalidParameter: bad duration', type: 'upstream_error' } });
  const [e] = await eventsOf(s.id);
  assert.equal(e?.status_code, 422);
  assert.equal(e?.error_class, 'upstream_error');
  on(SUBMIT, (_q, res) => {
    res.writeHead(302, { location: 'http://elsewhere.example/steal' });
    res.end();
  });
  const moved = await call('POST', '/v1/videos', { model: 'wan', prompt: 'a fox' });
  assert.equal(moved.status, 502, 'a redirect is not followed with the provider credential');
  assert.equal(moved.json.error.message, 'upstream returned 302');
  const n = await call('POST', '/v1/videos', { model: 'mistral-video', prompt: 'a fox' });
  assert.equal(n.status, 501);
  assert.deepEqual(await eventsOf(n.id), []);
});

test('input guardrails scan the prompt: 422 content_filter, no upstream call, the event says blocked', async () => {
  g.source.set(
    buildSnapshot(
      docs({
        guardrails: {
          kw: {
            name: 'no-codenames',
            kind: 'keyword',
            patterns: [{ kind: 'literal', value: 'nightingale' }],
          },
        },
      }),
      2,
    ),
  );
  try {
    const before = up.requests.length;
    const s = await call('POST', '/v1/videos', { model: 'wan', prompt: 'Project Nightingale trailer' });
    assert.equal(s.status, 422);
    assert.equal(s.json.error.type, 'content_filter');
    assert.equal(up.requests.length, before);
    const [e] = await eventsOf(s.id);
    assert.equal(e?.guardrail_blocked, true);
    on(SUBMIT, submitted('t-clean'));
    assert.equal((await call('POST', '/v1/videos', { model: 'wan', prompt: 'a calm lake' })).status, 200);
  } finally {
    g.source.set(buildSnapshot(docs(), 3));
  }
});

test('polls count against the key quota (rpm 2: submit, poll, then 429)', async () => {
  on(SUBMIT, submitted('t-q'));
  on('/api/v1/tasks/t-q', (_q, res) => sendJsonBody(res, 200, { output: { task_status: 'RUNNING' } }));
  const s = await call('POST', '/v1/videos', { model: 'wan', prompt: 'x' }, LIMITED);
  assert.equal(s.status, 200);
  assert.equal((await call('GET', `/v1/videos/${s.json.id}`, undefined, LIMITED)).status, 200);
  const refused = await call('GET', `/v1/videos/${s.json.id}`, undefined, LIMITED);
  assert.equal(refused.status, 429);
  assert.equal(refused.json.error.type, 'rate_limit_exceeded');
});

test('behind a valid id: the IP allowlist still answers 403; an unsafe task id is a 400 before any upstream call', async () => {
  const before = up.requests.length;
  const office = encodeVideoId({ modelId: 'm-cidr', requestedName: 'wan-office', taskId: 't-1' });
  const ip = await call('GET', `/v1/videos/${office}`);
  assert.equal(ip.status, 403);
  assert.equal(ip.json.error.code, 'ip_restricted');
  const unsafe = encodeVideoId({ modelId: 'm-wan', requestedName: 'wan', taskId: '../admin' });
  const r = await call('GET', `/v1/videos/${unsafe}/content`);
  assert.equal(r.status, 400);
  assert.equal(r.json.error.message, 'malformed resource id "../admin"');
  assert.equal(up.requests.length, before);
});

test('an id pairing a Model with a name that does not resolve to it is a 404, however allowed the name (§6.6)', async () => {
  on('/api/v1/tasks/t-acl', (_q, res) => sendJsonBody(res, 200, { output: { task_status: 'RUNNING' } }));
  const own = encodeVideoId({ modelId: 'm-wan', requestedName: 'wan', taskId: 't-acl' });
  assert.equal((await call('GET', `/v1/videos/${own}`, undefined, NARROW)).status, 200);
  // A wildcard-matched name polls its own task (the reason the name rides in the id).
  const wild = encodeVideoId({ modelId: 'm-wild', requestedName: 'wan/turbo', taskId: 't-acl' });
  assert.equal((await call('GET', `/v1/videos/${wild}`, undefined, NARROW)).status, 200);
  const before = up.requests.length;
  // `wan-slow` is not allowed to this key; `wan` is, but does not name that Model.
  for (const ref of [
    { modelId: 'm-slow', requestedName: 'wan', taskId: 't-acl' },
    { modelId: 'm-cidr', requestedName: 'wan/turbo', taskId: 't-acl' },
  ]) {
    const crafted = encodeVideoId(ref);
    for (const path of [`/v1/videos/${crafted}`, `/v1/videos/${crafted}/content`]) {
      const r = await call('GET', path, undefined, NARROW);
      assert.equal(r.status, 404, path);
      assert.equal(r.json.error.type, 'video_not_found');
    }
  }
  assert.equal(up.requests.length, before, 'no provider call for a crafted id');
});

test('the Model timeout bounds a submit (504); transport failures use the retry budget (2 attempts, both recorded)', async () => {
  on(SUBMIT, (_q, res) => {
    setTimeout(() => sendJsonBody(res, 200, { output: { task_id: 'late', task_status: 'PENDING' } }), 1500);
  });
  const slow = await call('POST', '/v1/videos', { model: 'wan-slow', prompt: 'x' });
  assert.equal(slow.status, 504);
  assert.equal(slow.json.error.type, 'timeout');
  const dead = await call('POST', '/v1/videos', { model: 'wan-dead', prompt: 'x' });
  assert.equal(dead.status, 502);
  assert.equal(dead.json.error.type, 'transport_error');
  const evs = await eventsOf(dead.id);
  assert.deepEqual(
    evs.map((e) => e.attempt_kind),
    ['initial', 'retry'],
  );
});

test('routing: GET /v1/videos is a 405 naming POST; a nested path under an id is a 404; a JSON body needs its content type', async () => {
  const list = await fetch(`${g.base}/v1/videos`, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(list.status, 405);
  assert.equal(list.headers.get('allow'), 'POST');
  assert.equal(((await list.json()) as Answer).error.type, 'method_not_allowed');
  const nested = await fetch(`${g.base}/v1/videos/abc/def`, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(nested.status, 404);
  await nested.body?.cancel();
  const plain = await fetch(`${g.base}/v1/videos`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'text/plain' },
    body: '{"model":"wan","prompt":"x"}',
  });
  assert.equal(plain.status, 400);
  assert.equal(((await plain.json()) as Answer).error.type, 'invalid_request_error');
});

test('a submit is resent only when the provider never answered: a silent provider is retried, a head that stalls is final', async () => {
  const silent = up.requests.length;
  on(SUBMIT, () => {
    // Never answers: the request deadline (200 ms) expires before any head.
  });
  const none = await call('POST', '/v1/videos', { model: 'wan-slow-retry', prompt: 'x' });
  assert.equal(none.status, 504);
  assert.equal(up.requests.length - silent, 2, 'explicit retries: 1 resends an unanswered submit');
  const started = up.requests.length;
  on(SUBMIT, (_q, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"output":');
  });
  const cut = await call('POST', '/v1/videos', { model: 'wan-slow-retry', prompt: 'x' });
  assert.equal(cut.status, 504);
  assert.equal(up.requests.length - started, 1, 'the provider answered: never a second paid task');
});

test('content `variant` (OpenAI SDK): forwarded to OpenAI; a variant a redirect provider lacks or an unknown one is a 400 before any upstream call', async () => {
  const c = new OpenAI({ apiKey: KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  on('/v1/videos', (_q, res) => sendJsonBody(res, 200, { id: 'vid_v', status: 'queued', progress: 0 }));
  const v = await c.videos.create({ model: 'sora', prompt: 'a heron' });
  on('/v1/videos/vid_v', (_q, res) =>
    sendJsonBody(res, 200, { id: 'vid_v', status: 'completed', progress: 100 }),
  );
  const asset =
    (type: string, bytes: string): RawBehaviour =>
    (_q, res) => {
      res.writeHead(200, { 'content-type': type, 'content-length': bytes.length });
      res.end(bytes);
    };
  on('/v1/videos/vid_v/content', asset('video/mp4', 'MP4-BYTES'));
  on('/v1/videos/vid_v/content?variant=thumbnail', asset('image/webp', 'WEBP-BYTES'));
  on('/v1/videos/vid_v/content?variant=spritesheet', asset('image/jpeg', 'JPEG-BYTES'));
  const video = await c.videos.downloadContent(v.id);
  assert.equal(video.headers.get('content-disposition'), 'attachment; filename="video.mp4"');
  assert.equal(await video.text(), 'MP4-BYTES');
  const thumb = await c.videos.downloadContent(v.id, { variant: 'thumbnail' });
  assert.equal(thumb.status, 200);
  assert.equal(thumb.headers.get('content-type'), 'image/webp');
  assert.equal(thumb.headers.get('content-disposition'), 'attachment; filename="thumbnail.webp"');
  assert.equal(await thumb.text(), 'WEBP-BYTES');
  const sheet = await c.videos.downloadContent(v.id, { variant: 'spritesheet' });
  assert.equal(sheet.headers.get('content-disposition'), 'attachment; filename="spritesheet.jpg"');
  assert.equal(await sheet.text(), 'JPEG-BYTES');
  assert.equal(
    up.requests.at(-1)?.url,
    '/v1/videos/vid_v/content?variant=spritesheet',
    'the variant reaches the provider',
  );

  // DashScope has no thumbnails: asking for one must not answer the video instead.
  on(SUBMIT, submitted('t-var'));
  const w = await c.videos.create({ model: 'wan', prompt: 'a heron' });
  const before = up.requests.length;
  for (const [id, variant] of [
    [w.id, 'thumbnail'],
    [v.id, 'poster'],
  ] as const) {
    await assert.rejects(c.videos.downloadContent(id, { variant: variant as 'thumbnail' }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.equal((e.error as { type?: string }).type, 'invalid_request_error');
      assert.match(e.message, new RegExp(`variant.*${variant}`));
      return true;
    });
  }
  assert.equal(up.requests.length, before, 'refused before any provider call');
});

test('a zero `size` dimension (OpenAI SDK form and JSON) is a 400 naming `size`, before any provider call', async () => {
  const c = new OpenAI({ apiKey: KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  on(SUBMIT, submitted('t-size'));
  const before = up.requests.length;
  for (const size of ['0x0', '00000x00000', '1280x0', '0x720', '00x00720']) {
    await assert.rejects(
      c.videos.create({ model: 'wan', prompt: 'a heron', size: size as '1280x720' }),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.BadRequestError, `${size}: ${String(e)}`);
        assert.equal((e.error as { type?: string }).type, 'invalid_request_error');
        assert.match(e.message, /`size`/, size);
        return true;
      },
    );
    const j = await call('POST', '/v1/videos', { model: 'wan', prompt: 'a heron', size });
    assert.equal(j.status, 400, size);
    assert.match(j.json.error.message, /`size`/);
  }
  assert.equal(up.requests.length, before, 'refused before any provider call');
  // The smallest real dimensions (and leading zeros on non-zero ones) are still accepted.
  for (const size of ['1x1', '01280x0720']) {
    const ok = await call('POST', '/v1/videos', { model: 'wan', prompt: 'a heron', size });
    assert.equal(ok.status, 200, size);
  }
});
