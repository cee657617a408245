/**
 * The videos API end to end (issue 12): a real `--role all` process on real etcd, Models and
 * keys written through the Admin API, the official `openai` client (whose `videos.create` sends
 * a multipart form) against a local DashScope-shaped upstream. Pins the submit → poll → 302
 * flow, the model-layer rate limit that polls are exempt from, forged ids, the caller ACL and
 * provider errors carried in the OpenAI envelope.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testEtcd } from '@aisix/testkit';
import OpenAI from 'openai';
import { request } from 'undici';
import {
  AdminClient,
  type AisixProcess,
  httpGet,
  removeDir,
  startAisix,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';
import { json, sequence, startVideoUpstream, type VideoUpstream } from './video-upstream.js';

const SUBMIT = '/api/v1/services/aigc/video-generation/video-synthesis';
const task = (id: string) => `/api/v1/tasks/${id}`;
const submitted = (id: string) =>
  json(200, { request_id: 'r', output: { task_id: id, task_status: 'PENDING' } });

async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e;
    throw e;
  }
  return assert.fail('expected an API error');
}

describe('videos: DashScope flow, limits, ids, ACL and provider errors', () => {
  const dir = tempDir('videos');
  let up: VideoUpstream;
  let p: AisixProcess;
  const keys = { main: '', other: '', narrow: '' };
  const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${p.proxyUrl}/v1`, maxRetries: 0 });
  const raw = (path: string, key: string) =>
    request(`${p.proxyUrl}${path}`, { headers: { authorization: `Bearer ${key}` } }).then(async (r) => ({
      status: r.statusCode,
      headers: r.headers,
      body: await r.body.text(),
    }));

  before(async () => {
    const etcd = await testEtcd();
    up = await startVideoUpstream();
    p = await startAisix({ name: 'all', dir, role: 'all', etcd });
    await waitStatus(p, `${p.proxyUrl}/readyz`, 200);
    const api = new AdminClient(p.adminUrl);
    const pk = await api.create('provider_keys', {
      display_name: 'dashscope',
      provider: 'alibaba',
      adapter: 'openai',
      api_key: 'sk-dashscope-upstream',
      // A pasted OpenAI-compatible base: the video root strips `/compatible-mode/v1`.
      api_base: `${up.origin}/compatible-mode/v1`,
    });
    const direct = { provider: 'alibaba', provider_key_id: pk.id, retries: 1 };
    await api.create('models', { display_name: 'wan', model_name: 'wan2.1-t2v-turbo', ...direct });
    await api.create('models', {
      display_name: 'wan-limited',
      model_name: 'wan2.1-t2v-plus',
      rate_limit: { rpm: 1 },
      ...direct,
    });
    await api.create('models', { display_name: 'wanx/*', model_name: 'wanx-*', ...direct });
    await api.create('models', {
      display_name: 'mistral-video',
      model_name: 'm',
      provider: 'mistral',
      provider_key_id: pk.id,
    });
    keys.other = (await api.create('api_keys', { allowed_models: ['wan-limited'] })).plaintext ?? '';
    keys.narrow = (await api.create('api_keys', { allowed_models: ['wanx/turbo'] })).plaintext ?? '';
    // Seeded last: once it authenticates, everything above is served.
    keys.main = (await api.create('api_keys', { allowed_models: ['*'] })).plaintext ?? '';
    await waitUntil(
      'caller key',
      async () =>
        (await httpGet(`${p.proxyUrl}/v1/models`, { authorization: `Bearer ${keys.main}` })).status === 200
          ? true
          : undefined,
      { timeoutMs: 10_000, alive: [p] },
    );
  });

  after(async () => {
    await p?.kill();
    await up?.close();
    removeDir(dir);
  });

  test('DashScope: submit → queued with the requested model; poll in_progress; content 302 to the provider URL', async () => {
    up.on('POST', SUBMIT, submitted('task-fox'));
    const v = await client(keys.main).videos.create({
      model: 'wan',
      prompt: 'a red fox',
      seconds: '8',
      size: '1280x720',
    });
    assert.equal(v.object, 'video');
    assert.equal(v.status, 'queued');
    assert.equal(v.model, 'wan');
    assert.equal(v.progress, 0);
    assert.equal(typeof v.created_at, 'number');
    assert.ok(Math.abs(v.created_at - Date.now() / 1000) < 60);
    assert.equal(v.seconds, '8');
    assert.equal(v.size, '1280x720');
    assert.match(v.id, /^[A-Za-z0-9_-]+$/);
    const sub = up.calls(SUBMIT).at(-1);
    assert.ok(sub);
    assert.equal(sub.headers.authorization, 'Bearer sk-dashscope-upstream');
    assert.equal(sub.headers['x-dashscope-async'], 'enable');
    assert.match(String(sub.headers['content-type']), /^application\/json/);
    assert.ok(sub.headers['x-aisix-request-id']);
    assert.deepEqual(JSON.parse(sub.body), {
      model: 'wan2.1-t2v-turbo',
      input: { prompt: 'a red fox' },
      parameters: { duration: 8, size: '1280*720' },
    });

    up.on('GET', task('task-fox'), json(200, { output: { task_id: 'task-fox', task_status: 'RUNNING' } }));
    const polled = await client(keys.main).videos.retrieve(v.id);
    assert.equal(polled.id, v.id);
    assert.equal(polled.status, 'in_progress');
    assert.equal(polled.model, 'wan');
    assert.equal(polled.created_at, 0);
    const poll = up.calls(task('task-fox')).at(-1);
    assert.equal(poll?.headers.authorization, 'Bearer sk-dashscope-upstream');
    assert.equal(poll?.headers['x-dashscope-async'], undefined, 'the async header is for submits only');

    const url = 'https://cdn.dashscope.example/v/fox.mp4?sig=abc';
    up.on(
      'GET',
      task('task-fox'),
      json(200, {
        output: { task_status: 'SUCCEEDED', video_url: url },
        usage: { output_video_duration: 8 },
      }),
    );
    const done = await client(keys.main).videos.retrieve(v.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.progress, 100);
    assert.equal(done.seconds, '8');
    const content = await raw(`/v1/videos/${v.id}/content`, keys.main);
    assert.equal(content.status, 302);
    assert.equal(content.headers.location, url);
    // Content collapses into the `:id` label (bounded metrics).
    const metrics = (await httpGet(`${p.metricsUrl}/metrics`)).body;
    assert.match(metrics, /aisix_proxy_requests_total\{[^}]*endpoint="\/v1\/videos\/:id"/);
    assert.match(metrics, /aisix_proxy_requests_total\{[^}]*endpoint="\/v1\/videos"/);
    assert.doesNotMatch(metrics, /endpoint="\/v1\/videos\/[^:"]/);
  });

  test('model rpm 1: the second submit is a gateway 429 with Retry-After and no upstream call; polls still 200', async () => {
    up.on('POST', SUBMIT, submitted('task-limited'));
    up.on('GET', task('task-limited'), json(200, { output: { task_status: 'PENDING' } }));
    const c = client(keys.main);
    const first = await c.videos.create({ model: 'wan-limited', prompt: 'waves' });
    const before = up.calls(SUBMIT).length;
    const refused = await apiError(c.videos.create({ model: 'wan-limited', prompt: 'waves again' }));
    assert.equal(refused.status, 429);
    assert.equal(refused.type, 'rate_limit_exceeded');
    assert.match(refused.headers?.get('retry-after') ?? '', /^\d+$/);
    assert.equal(up.calls(SUBMIT).length, before, 'refused before any upstream call');
    for (let i = 0; i < 3; i++) assert.equal((await c.videos.retrieve(first.id)).status, 'queued');
  });

  test('never-minted ids → 404 video_not_found without any upstream call', async () => {
    const before = up.seen.length;
    const forged = [
      'not-a-video-id',
      Buffer.from(`no-such-model:${Buffer.from('wan').toString('base64url')}:task-1`).toString('base64url'),
      Buffer.from('only:two').toString('base64url'),
      `${Buffer.from('x:d2Fu:t').toString('base64url')}==`,
    ];
    for (const id of forged) {
      for (const path of [`/v1/videos/${id}`, `/v1/videos/${id}/content`]) {
        const r = await raw(path, keys.main);
        assert.equal(r.status, 404, path);
        assert.deepEqual(JSON.parse(r.body), {
          error: { message: `video ${JSON.stringify(id)} not found`, type: 'video_not_found' },
        });
      }
    }
    assert.equal(up.seen.length, before);
  });

  test('caller ACL: a key without the model gets 403 on submit and 404 on polls; a wildcard-matched name can poll its own task', async () => {
    up.on('POST', SUBMIT, submitted('task-acl'));
    up.on('GET', task('task-acl'), json(200, { output: { task_status: 'RUNNING' } }));
    const mine = await client(keys.main).videos.create({ model: 'wan', prompt: 'a cat' });
    const denied = await apiError(client(keys.other).videos.create({ model: 'wan', prompt: 'a cat' }));
    assert.equal(denied.status, 403);
    assert.equal(denied.type, 'permission_denied');
    const before = up.seen.length;
    const probe = await apiError(client(keys.other).videos.retrieve(mine.id));
    assert.equal(probe.status, 404);
    assert.equal(probe.type, 'video_not_found');
    assert.equal(up.seen.length, before);
    const unauth = await raw(`/v1/videos/${mine.id}`, 'sk-nobody');
    assert.equal(unauth.status, 401);

    up.on('POST', SUBMIT, submitted('task-wild'));
    up.on('GET', task('task-wild'), json(200, { output: { task_status: 'RUNNING' } }));
    const wild = await client(keys.narrow).videos.create({ model: 'wanx/turbo', prompt: 'a cat' });
    assert.equal(wild.model, 'wanx/turbo');
    assert.equal(JSON.parse(up.calls(SUBMIT).at(-1)?.body ?? '{}').model, 'wanx-turbo');
    const polled = await client(keys.narrow).videos.retrieve(wild.id);
    assert.equal(polled.status, 'in_progress');
    assert.equal(polled.model, 'wanx/*', "the Model's display name (reference behaviour, AJ-13)");
  });

  test('provider errors in the OpenAI envelope: 4xx kept, 5xx → 502 and a submit never replayed; polls retried, 429 not', async () => {
    const c = client(keys.main);
    up.on(
      'POST',
      SUBMIT,
      json(400, { code: 'InvalidParameter', message: 'prompt too long', request_id: 'r' }),
    );
    const bad = await apiError(c.videos.create({ model: 'wan', prompt: 'x' }));
    assert.equal(bad.status, 400);
    assert.equal(bad.type, 'upstream_error');
    assert.equal(bad.message, '400 InvalidParameter: prompt too long');

    const n = up.calls(SUBMIT).length;
    up.on('POST', SUBMIT, json(500, { error: { code: 'InternalError', message: 'secret internals' } }));
    const down = await apiError(c.videos.create({ model: 'wan', prompt: 'x' }));
    assert.equal(down.status, 502);
    assert.equal(down.type, 'upstream_error');
    assert.doesNotMatch(down.message, /secret internals/);
    assert.equal(up.calls(SUBMIT).length, n + 1, 'an answered submit is never sent again');

    up.on('POST', SUBMIT, submitted('task-err'));
    const v = await c.videos.create({ model: 'wan', prompt: 'x' });
    up.on(
      'GET',
      task('task-err'),
      sequence(json(503, { message: 'busy' }), json(200, { output: { task_status: 'RUNNING' } })),
    );
    assert.equal((await c.videos.retrieve(v.id)).status, 'in_progress');
    assert.equal(up.calls(task('task-err')).length, 2, 'the poll was retried once (retries: 1)');
    up.on(
      'GET',
      task('task-err'),
      json(429, { error: { code: 'Throttling', message: 'slow down' } }, { 'retry-after': '7' }),
    );
    const throttled = await apiError(c.videos.retrieve(v.id));
    assert.equal(throttled.status, 429);
    assert.equal(throttled.type, 'upstream_error');
    assert.equal(throttled.message, '429 Throttling: slow down');
    assert.equal(throttled.headers?.get('retry-after'), '7');
    assert.equal(up.calls(task('task-err')).length, 3, '429 is never retried');

    up.on(
      'GET',
      task('task-err'),
      json(200, {
        output: { task_status: 'FAILED', code: 'DataInspectionFailed', message: 'unsafe content' },
      }),
    );
    const failed = await c.videos.retrieve(v.id);
    assert.equal(failed.status, 'failed');
    assert.deepEqual(failed.error, { code: 'DataInspectionFailed', message: 'unsafe content' });
    const content = await raw(`/v1/videos/${v.id}/content`, keys.main);
    assert.equal(content.status, 400);
    assert.match(JSON.parse(content.body).error.message, /video generation failed: unsafe content/);
    up.on('GET', task('task-err'), json(200, { output: { task_status: 'RUNNING' } }));
    const early = await raw(`/v1/videos/${v.id}/content`, keys.main);
    assert.equal(early.status, 400);
    assert.match(JSON.parse(early.body).error.message, /not ready.*in_progress.*completed/);
  });

  test('submit checks: 400s, 404 and 501 before any upstream call', async () => {
    const c = client(keys.main);
    const before = up.seen.length;
    const cases: [Record<string, unknown>, number, string][] = [
      [{ model: 'wan' }, 400, 'invalid_request_error'],
      [{ model: 'wan', prompt: '   ' }, 400, 'invalid_request_error'],
      [{ model: 'wan', prompt: 'x', seconds: '8.5' }, 400, 'invalid_request_error'],
      [{ model: 'wan', prompt: 'x', seconds: 0 }, 400, 'invalid_request_error'],
      [{ model: 'wan', prompt: 'x', size: 'big' }, 400, 'invalid_request_error'],
      [{ model: 'nope', prompt: 'x' }, 404, 'model_not_found'],
      [{ model: 'mistral-video', prompt: 'x' }, 501, 'not_implemented'],
    ];
    for (const [body, status, type] of cases) {
      const e = await apiError(c.post('/videos', { body }));
      assert.equal(e.status, status, JSON.stringify(body));
      assert.equal(e.type, type, JSON.stringify(body));
    }
    const unsupported = await apiError(c.post('/videos', { body: { model: 'mistral-video', prompt: 'x' } }));
    assert.equal(unsupported.message, '501 provider "mistral" is not yet supported on /v1/videos');
    assert.equal(up.seen.length, before);
  });
});
