/**
 * The videos API over every other provider wire (issue 12): Zhipu, Volcengine Ark and Runway
 * end in 302s to the provider's URL; OpenAI (Sora) content is relayed by the gateway, streamed
 * (the test holds the upstream mid-body until the caller has the first half), under the Model's
 * stream budget, with the provider's own error on a failed download. A real process on real
 * etcd, the official `openai` client, one local HTTP server playing all providers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
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
import { json, startVideoUpstream, type VideoUpstream } from './video-upstream.js';

describe('videos: Zhipu, Ark, Runway redirects and the Sora content proxy', () => {
  const dir = tempDir('videos-providers');
  let up: VideoUpstream;
  let p: AisixProcess;
  let key = '';
  let keyId = '';
  let c: OpenAI;
  const get = (path: string) =>
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
    const pk = async (provider: string, secret: string, base: string, extra: Record<string, unknown> = {}) =>
      (
        await api.create('provider_keys', {
          display_name: `${provider}-key`,
          provider,
          adapter: 'openai',
          api_key: secret,
          api_base: base,
          ...extra,
        })
      ).id;
    const model = async (name: string, provider: string, upstream: string, pkId: string, extra = {}) =>
      api.create('models', {
        display_name: name,
        provider,
        model_name: upstream,
        provider_key_id: pkId,
        ...extra,
      });
    await model(
      'cogvideox',
      'zhipu',
      'cogvideox-3',
      await pk('zhipuai', 'sk-zhipu', `${up.origin}/api/paas/v4`),
    );
    await model(
      'seedance',
      'volcengine',
      'doubao-seedance',
      await pk('volcengine', 'sk-ark', `${up.origin}/api/v3`),
    );
    const runwayPk = await pk('runway', 'sk-runway', up.origin, {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a header template, not a JS template
      request: { default_headers: { 'x-team': '${request.api_key.id}', 'x-runway-version': 'overridden?' } },
    });
    await model('gen4', 'runway', 'gen4_turbo', runwayPk);
    // A bare host: the OpenAI join adds `/v1`.
    const soraPk = await pk('openai', 'sk-sora-upstream', up.origin);
    await model('sora', 'openai', 'sora-2', soraPk);
    await model('sora-stall', 'openai', 'sora-2', soraPk, { stream_timeout: 400 });
    const k = await api.create('api_keys', { allowed_models: ['*'] });
    key = k.plaintext ?? '';
    keyId = k.id;
    c = new OpenAI({ apiKey: key, baseURL: `${p.proxyUrl}/v1`, maxRetries: 0 });
    await waitUntil(
      'caller key',
      async () =>
        (await httpGet(`${p.proxyUrl}/v1/models`, { authorization: `Bearer ${key}` })).status === 200
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

  test('Zhipu: in_progress at submit, flat body, no foreign headers; completed → 302', async () => {
    const SUBMIT = '/api/paas/v4/videos/generations';
    up.on(
      'POST',
      SUBMIT,
      json(200, { id: 'zp-1', model: 'cogvideox-3', task_status: 'PROCESSING', request_id: 'r' }),
    );
    const v = await c.videos.create({
      model: 'cogvideox',
      prompt: 'a koi pond',
      seconds: '8',
      size: '1280x720',
    });
    assert.equal(v.status, 'in_progress');
    const sub = up.calls(SUBMIT).at(-1);
    assert.ok(sub);
    assert.deepEqual(JSON.parse(sub.body), {
      model: 'cogvideox-3',
      prompt: 'a koi pond',
      duration: 8,
      size: '1280x720',
    });
    assert.equal(sub.headers.authorization, 'Bearer sk-zhipu');
    assert.equal(sub.headers['x-dashscope-async'], undefined);
    assert.equal(sub.headers['x-runway-version'], undefined);
    up.on(
      'GET',
      '/api/paas/v4/async-result/zp-1',
      json(200, { task_status: 'SUCCESS', video_result: [{ url: 'https://zp.example/v.mp4' }] }),
    );
    assert.equal((await c.videos.retrieve(v.id)).status, 'completed');
    const r = await get(`/v1/videos/${v.id}/content`);
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, 'https://zp.example/v.mp4');
  });

  test('Ark: content[] and duration (size validated, not sent); completed → 302; a non-http video URL → 502', async () => {
    const SUBMIT = '/api/v3/contents/generations/tasks';
    up.on('POST', SUBMIT, json(200, { id: 'cgt-1' }));
    const v = await c.videos.create({
      model: 'seedance',
      prompt: 'city at dusk',
      seconds: '4',
      size: '1280x720',
    });
    assert.equal(v.status, 'queued');
    assert.equal(v.size, '1280x720');
    assert.deepEqual(JSON.parse(up.calls(SUBMIT).at(-1)?.body ?? ''), {
      model: 'doubao-seedance',
      content: [{ type: 'text', text: 'city at dusk' }],
      duration: 4,
    });
    const POLL = `${SUBMIT}/cgt-1`;
    up.on(
      'GET',
      POLL,
      json(200, {
        id: 'cgt-1',
        status: 'succeeded',
        content: { video_url: 'https://ark.example/v.mp4' },
        duration: 4,
      }),
    );
    const done = await c.videos.retrieve(v.id);
    assert.equal(done.seconds, '4');
    const r = await get(`/v1/videos/${v.id}/content`);
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, 'https://ark.example/v.mp4');
    up.on(
      'GET',
      POLL,
      json(200, { id: 'cgt-1', status: 'succeeded', content: { video_url: 'javascript:alert(1)' } }),
    );
    const bad = await get(`/v1/videos/${v.id}/content`);
    assert.equal(bad.status, 502);
    assert.equal(JSON.parse(bad.body).error.type, 'upstream_decode_error');
  });

  test('Runway: promptText and ratio, version header on submit and polls, PK default headers never override it', async () => {
    up.on('POST', '/v1/text_to_video', json(200, { id: 'rw-1' }));
    const v = await c.videos.create({
      model: 'gen4',
      prompt: 'a paper boat',
      seconds: '4',
      size: '1280x720',
    });
    const sub = up.calls('/v1/text_to_video').at(-1);
    assert.ok(sub);
    assert.deepEqual(JSON.parse(sub.body), {
      model: 'gen4_turbo',
      promptText: 'a paper boat',
      duration: 4,
      ratio: '1280:720',
    });
    assert.equal(sub.headers['x-runway-version'], '2024-11-06');
    assert.equal(sub.headers['x-team'], keyId);
    up.on(
      'GET',
      '/v1/tasks/rw-1',
      json(200, { id: 'rw-1', status: 'SUCCEEDED', output: ['https://rw.example/v.mp4'] }),
    );
    const r = await get(`/v1/videos/${v.id}/content`);
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, 'https://rw.example/v.mp4');
    const poll = up.calls('/v1/tasks/rw-1').at(-1);
    assert.equal(poll?.headers['x-runway-version'], '2024-11-06');
    assert.equal(poll?.headers.authorization, 'Bearer sk-runway');
  });

  test('Sora: string seconds, progress passed through, content relayed as video/mp4 attachment with the exact bytes', async () => {
    up.on(
      'POST',
      '/v1/videos',
      json(200, { id: 'video_1', object: 'video', status: 'queued', progress: 0, model: 'sora-2' }),
    );
    const v = await c.videos.create({
      model: 'sora',
      prompt: 'a lighthouse',
      seconds: '8',
      size: '1280x720',
    });
    assert.equal(v.seconds, '8');
    assert.deepEqual(JSON.parse(up.calls('/v1/videos').at(-1)?.body ?? ''), {
      model: 'sora-2',
      prompt: 'a lighthouse',
      seconds: '8',
      size: '1280x720',
    });
    up.on(
      'GET',
      '/v1/videos/video_1',
      json(200, { id: 'video_1', status: 'in_progress', progress: 40, seconds: '8' }),
    );
    const mid = await c.videos.retrieve(v.id);
    assert.equal(mid.progress, 40);
    assert.equal(mid.status, 'in_progress');
    up.on(
      'GET',
      '/v1/videos/video_1',
      json(200, { id: 'video_1', status: 'completed', progress: 100, seconds: '8' }),
    );
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    up.on('GET', '/v1/videos/video_1/content', (res) => {
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': bytes.length });
      res.end(bytes);
    });
    const res = await c.videos.downloadContent(v.id);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'video/mp4');
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename="video.mp4"');
    assert.equal(res.headers.get('content-length'), String(bytes.length));
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
    const dl = up.calls('/v1/videos/video_1/content').at(-1);
    assert.equal(dl?.headers.authorization, 'Bearer sk-sora-upstream');
    for (const [, value] of res.headers) assert.doesNotMatch(value, /sk-sora|Bearer/);
    for (const s of up.seen) assert.doesNotMatch(JSON.stringify(s.headers), new RegExp(key));
  });

  test('Sora content is streamed, not buffered: the caller has the first half while the upstream still holds the rest', async () => {
    up.on('POST', '/v1/videos', json(200, { id: 'video_2', status: 'queued' }));
    const v = await c.videos.create({ model: 'sora', prompt: 'tide' });
    up.on('GET', '/v1/videos/video_2', json(200, { id: 'video_2', status: 'completed', progress: 100 }));
    const half = randomBytes(256 * 1024);
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    up.on('GET', '/v1/videos/video_2/content', async (res) => {
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': half.length * 2 });
      res.write(half);
      await held;
      res.end(half);
    });
    const r = await request(`${p.proxyUrl}/v1/videos/${v.id}/content`, {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(r.statusCode, 200);
    const got: Buffer[] = [];
    let size = 0;
    const it = r.body[Symbol.asyncIterator]();
    const firstHalf = (async () => {
      while (size < half.length) {
        const n = await it.next();
        if (n.done) break;
        got.push(n.value as Buffer);
        size += (n.value as Buffer).length;
      }
    })();
    const outcome = await Promise.race([firstHalf.then(() => 'streamed'), sleep(10_000, 'buffered')]);
    assert.equal(outcome, 'streamed', 'the first half reached the caller before the upstream finished');
    release();
    for (;;) {
      const n = await it.next();
      if (n.done) break;
      got.push(n.value as Buffer);
    }
    assert.ok(Buffer.concat(got).equals(Buffer.concat([half, half])));
  });

  test('Sora content: a stall mid-body truncates the transfer within the stream budget; a 403 is a JSON error with the provider message', async () => {
    up.on('POST', '/v1/videos', json(200, { id: 'video_3', status: 'queued' }));
    const v = await c.videos.create({ model: 'sora-stall', prompt: 'fog' });
    up.on('GET', '/v1/videos/video_3', json(200, { id: 'video_3', status: 'completed', progress: 100 }));
    up.on('GET', '/v1/videos/video_3/content', (res) => {
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': 2000 });
      res.write(Buffer.alloc(1000, 1));
      // Never ends: the gateway's idle budget (400 ms) must cut it.
    });
    const t0 = Date.now();
    const r = await request(`${p.proxyUrl}/v1/videos/${v.id}/content`, {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(r.statusCode, 200);
    let received = 0;
    await assert.rejects(async () => {
      for await (const chunk of r.body) received += (chunk as Buffer).length;
    });
    assert.equal(received, 1000, 'a short read');
    assert.ok(Date.now() - t0 < 8000);

    up.on(
      'GET',
      '/v1/videos/video_3/content',
      json(403, { error: { code: 'forbidden', message: 'the download URL has expired' } }),
    );
    const e = await c.videos.downloadContent(v.id).then(
      () => assert.fail('expected an API error'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof OpenAI.APIError);
    assert.equal(e.status, 403);
    assert.equal(e.type, 'upstream_error');
    assert.match(e.message, /forbidden: the download URL has expired/);
    assert.match(e.headers?.get('content-type') ?? '', /application\/json/);
  });
});
