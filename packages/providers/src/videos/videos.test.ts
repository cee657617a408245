import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VIDEO_VENDORS, videoErrorMessage, videoHeaders, videoUrls, videoVendor } from './index.js';

const vendor = (id: string) => {
  const v = videoVendor(id);
  assert.ok(v, id);
  return v;
};

const urlsOf = (id: string, base: string | undefined) => {
  const r = videoUrls(vendor(id), base);
  assert.ok(r.ok, `${id} ${base}`);
  return r.value;
};

test('provider ids: aliases and case-insensitive lookup; anything else unsupported', () => {
  assert.equal(videoVendor('ZhipU')?.id, 'zhipuai');
  assert.equal(videoVendor('runway')?.id, 'runwayml');
  assert.equal(videoVendor('RunwayML')?.id, 'runwayml');
  assert.equal(videoVendor('mistral'), undefined);
  assert.equal(videoVendor(''), undefined);
  assert.equal(videoVendor(undefined), undefined);
  assert.deepEqual(
    VIDEO_VENDORS.map((v) => v.delivery),
    ['redirect', 'redirect', 'redirect', 'redirect', 'proxy'],
  );
});

test('URLs: one pasted suffix stripped per vendor; OpenAI joins like the chat family', () => {
  for (const base of [
    'https://dashscope.example/compatible-mode/v1',
    'https://dashscope.example/api/v1/',
    'https://dashscope.example',
  ]) {
    const u = urlsOf('alibaba', base);
    assert.equal(
      u.submit.href,
      'https://dashscope.example/api/v1/services/aigc/video-generation/video-synthesis',
    );
    assert.equal(u.poll('t-1').href, 'https://dashscope.example/api/v1/tasks/t-1');
    assert.equal(u.content('t-1'), undefined);
  }
  const z = urlsOf('zhipu', 'https://open.bigmodel.example/api/paas/v4');
  assert.equal(z.submit.href, 'https://open.bigmodel.example/api/paas/v4/videos/generations');
  assert.equal(z.poll('abc').href, 'https://open.bigmodel.example/api/paas/v4/async-result/abc');
  const a = urlsOf('volcengine', 'https://ark.example/api/v3');
  assert.equal(a.submit.href, 'https://ark.example/api/v3/contents/generations/tasks');
  assert.equal(a.poll('cgt-1').href, 'https://ark.example/api/v3/contents/generations/tasks/cgt-1');
  const r = urlsOf('runway', 'https://api.runway.example');
  assert.equal(r.submit.href, 'https://api.runway.example/v1/text_to_video');
  assert.equal(r.poll('x').href, 'https://api.runway.example/v1/tasks/x');
  const o = urlsOf('openai', undefined);
  assert.equal(o.submit.href, 'https://api.openai.com/v1/videos');
  assert.equal(o.poll('video_1').href, 'https://api.openai.com/v1/videos/video_1');
  assert.equal(o.content('video_1')?.href, 'https://api.openai.com/v1/videos/video_1/content');
  assert.equal(urlsOf('openai', 'http://127.0.0.1:9').submit.href, 'http://127.0.0.1:9/v1/videos');
  assert.equal(
    urlsOf('openai', 'https://gw.example/openai/v1').submit.href,
    'https://gw.example/openai/v1/videos',
  );
});

test('URLs: a base is required except for OpenAI; a bad base is refused', () => {
  const none = videoUrls(vendor('alibaba'), '  ');
  assert.equal(none.ok, false);
  assert.match(none.ok ? '' : none.message, /provider_key for vendor "alibaba" has no upstream base URL/);
  const bad = videoUrls(vendor('runway'), 'not a url');
  assert.equal(bad.ok, false);
  assert.equal(videoUrls(vendor('zhipu'), 'ftp://x/api/paas/v4').ok, false);
});

test('submit bodies: each vendor wire shape; optional parts only when given', () => {
  const full = { model: 'm', prompt: 'a cat', seconds: 8, size: { width: 1280, height: 720 } };
  const bare = { model: 'm', prompt: 'a cat' };
  assert.deepEqual(vendor('alibaba').body(full), {
    model: 'm',
    input: { prompt: 'a cat' },
    parameters: { duration: 8, size: '1280*720' },
  });
  assert.deepEqual(vendor('alibaba').body(bare), { model: 'm', input: { prompt: 'a cat' } });
  assert.deepEqual(vendor('zhipu').body(full), {
    model: 'm',
    prompt: 'a cat',
    duration: 8,
    size: '1280x720',
  });
  assert.deepEqual(vendor('volcengine').body(full), {
    model: 'm',
    content: [{ type: 'text', text: 'a cat' }],
    duration: 8,
  });
  assert.deepEqual(vendor('runway').body(full), {
    model: 'm',
    promptText: 'a cat',
    duration: 8,
    ratio: '1280:720',
  });
  assert.deepEqual(vendor('openai').body(full), {
    model: 'm',
    prompt: 'a cat',
    seconds: '8',
    size: '1280x720',
  });
  assert.deepEqual(vendor('openai').body(bare), bare);
});

test('submit answers: task id and status; a missing field is a decode failure', () => {
  assert.deepEqual(vendor('alibaba').parseSubmit({ output: { task_id: 't', task_status: 'PENDING' } }), {
    ok: true,
    value: { taskId: 't', status: 'queued' },
  });
  assert.deepEqual(vendor('zhipu').parseSubmit({ id: 'z', task_status: 'PROCESSING' }), {
    ok: true,
    value: { taskId: 'z', status: 'in_progress' },
  });
  assert.deepEqual(vendor('volcengine').parseSubmit({ id: 'cgt' }), {
    ok: true,
    value: { taskId: 'cgt', status: 'queued' },
  });
  assert.deepEqual(vendor('runway').parseSubmit({ id: 'r' }), {
    ok: true,
    value: { taskId: 'r', status: 'queued' },
  });
  assert.deepEqual(vendor('openai').parseSubmit({ id: 'video_1', status: 'queued' }), {
    ok: true,
    value: { taskId: 'video_1', status: 'queued' },
  });
  for (const [id, doc] of [
    ['alibaba', { output: { task_status: 'PENDING' } }],
    ['alibaba', { output: { task_id: 't' } }],
    ['zhipu', { id: 'z' }],
    ['volcengine', {}],
    ['runway', { status: 'PENDING' }],
    ['openai', { id: 'v' }],
    ['openai', 'not an object'],
  ] as const) {
    const r = vendor(id).parseSubmit(doc);
    assert.equal(r.ok, false, `${id} ${JSON.stringify(doc)}`);
    assert.match(r.ok ? '' : r.message, /^upstream returned an unparseable body: missing /);
  }
});

test('poll answers: status tables (unknown → failed), URLs, durations, progress, failure detail', () => {
  const ali = vendor('alibaba');
  assert.deepEqual(ali.parsePoll({ output: { task_status: 'RUNNING' } }), {
    ok: true,
    value: { status: 'in_progress', progress: 0 },
  });
  assert.deepEqual(
    ali.parsePoll({
      output: { task_status: 'SUCCEEDED', video_url: 'https://v/x.mp4' },
      usage: { output_video_duration: 5, duration: 9 },
    }),
    { ok: true, value: { status: 'completed', progress: 100, seconds: '5', videoUrl: 'https://v/x.mp4' } },
  );
  assert.deepEqual(ali.parsePoll({ output: { task_status: 'SUCCEEDED' }, usage: { duration: 9 } }), {
    ok: true,
    value: { status: 'completed', progress: 100, seconds: '9' },
  });
  assert.deepEqual(
    ali.parsePoll({ output: { task_status: 'FAILED', code: 'DataInspectionFailed', message: 'unsafe' } }),
    {
      ok: true,
      value: { status: 'failed', progress: 0, error: { code: 'DataInspectionFailed', message: 'unsafe' } },
    },
  );
  assert.deepEqual(
    vendor('zhipu').parsePoll({ task_status: 'SUCCESS', video_result: [{ url: 'https://z/v.mp4' }] }),
    {
      ok: true,
      value: { status: 'completed', progress: 100, videoUrl: 'https://z/v.mp4' },
    },
  );
  assert.deepEqual(vendor('zhipu').parsePoll({ task_status: 'FAIL' }), {
    ok: true,
    value: { status: 'failed', progress: 0 },
  });
  assert.deepEqual(
    vendor('volcengine').parsePoll({
      status: 'succeeded',
      content: { video_url: 'https://a/v.mp4' },
      duration: 5,
    }),
    { ok: true, value: { status: 'completed', progress: 100, seconds: '5', videoUrl: 'https://a/v.mp4' } },
  );
  assert.deepEqual(vendor('volcengine').parsePoll({ status: 'queued' }), {
    ok: true,
    value: { status: 'queued', progress: 0 },
  });
  assert.deepEqual(vendor('runway').parsePoll({ status: 'THROTTLED' }), {
    ok: true,
    value: { status: 'queued', progress: 0 },
  });
  assert.deepEqual(
    vendor('runway').parsePoll({ status: 'FAILED', failure: 'moderation', failureCode: 'SAFETY' }),
    {
      ok: true,
      value: { status: 'failed', progress: 0, error: { code: 'SAFETY', message: 'moderation' } },
    },
  );
  assert.deepEqual(vendor('openai').parsePoll({ status: 'in_progress', progress: 40, seconds: '8' }), {
    ok: true,
    value: { status: 'in_progress', progress: 40, seconds: '8' },
  });
  assert.equal(
    (vendor('openai').parsePoll({ status: 'completed', progress: 250 }) as { value: { progress: number } })
      .value.progress,
    100,
  );
  assert.deepEqual(vendor('openai').parsePoll({ status: 'failed', error: { message: 'policy' } }), {
    ok: true,
    value: { status: 'failed', progress: 0, error: { code: 'video_generation_failed', message: 'policy' } },
  });
  assert.equal(vendor('openai').parsePoll({ progress: 1 }).ok, false);
});

test('headers: PK bearer, request id, vendor headers per call, JSON type on submit only; templates never override', () => {
  const input = {
    providerKey: {
      api_key: 'sk-vendor',
      request: {
        default_headers: { 'x-team': 'blue', authorization: 'Bearer evil', 'x-runway-version': 'old' },
      },
    },
    requestId: 'req-1',
    userAgent: 'aisix/test',
    templateVars: { 'request.id': 'req-1' },
    inboundHeaders: {},
  };
  const submit = videoHeaders(vendor('runway'), 'submit', input);
  assert.ok(submit.ok);
  assert.equal(submit.value.authorization, 'Bearer sk-vendor');
  assert.equal(submit.value['x-aisix-request-id'], 'req-1');
  assert.equal(submit.value['content-type'], 'application/json');
  assert.equal(submit.value['x-runway-version'], '2024-11-06');
  assert.equal(submit.value['x-team'], 'blue');
  const poll = videoHeaders(vendor('runway'), 'poll', input);
  assert.ok(poll.ok);
  assert.equal(poll.value['x-runway-version'], '2024-11-06');
  assert.equal(poll.value['content-type'], undefined);
  const ali = videoHeaders(vendor('alibaba'), 'poll', input);
  assert.ok(ali.ok);
  assert.equal(ali.value['x-dashscope-async'], undefined, 'the async header is for submits only');
  const noKey = videoHeaders(vendor('alibaba'), 'submit', { ...input, providerKey: { api_key: ' ' } });
  assert.equal(noKey.ok, false);
});

test('provider errors read as `code: message`, either alone, else `upstream error`', () => {
  assert.equal(
    videoErrorMessage('{"error":{"code":"invalid_size","message":"bad size"}}'),
    'invalid_size: bad size',
  );
  assert.equal(
    videoErrorMessage('{"code":"InvalidApiKey","message":"Invalid API-key provided."}'),
    'InvalidApiKey: Invalid API-key provided.',
  );
  assert.equal(videoErrorMessage('{"error":{"code":1211}}'), '1211');
  assert.equal(videoErrorMessage('{"message":"only a message"}'), 'only a message');
  assert.equal(videoErrorMessage('{"error":"Invalid API key"}'), 'Invalid API key');
  assert.equal(videoErrorMessage('<html>bad gateway</html>'), 'upstream error');
  assert.equal(videoErrorMessage('{}'), 'upstream error');
});
