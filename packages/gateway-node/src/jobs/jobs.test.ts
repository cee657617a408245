/**
 * The job APIs (`/v1/files…`, `/v1/batches…`, `/v1/fine_tuning/jobs…`) against their contract
 * (agents-and-jobs.md §1, §5), in process, with a recording mock upstream per provider key.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, type Started, standardDocs, startTestGateway, testConfig } from '../test/fixtures.js';
import { json, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

let up: MockUpstream;
let g: Started;
const AZURE_SECRET = 'az-upstream-secret-0987654321';
/** A caller key allowed every model (`standardDocs`). */
const ALL_KEY = 'sk-all';

before(async () => {
  up = await startMockUpstream((_req, res) => json(res, 200, { id: 'file-1', object: 'file' }));
  g = await startTestGateway(
    buildSnapshot(
      standardDocs(up.url, {
        provider_keys: {
          pkz: {
            display_name: 'azure',
            provider: 'azure',
            adapter: 'azure-openai',
            api_key: AZURE_SECRET,
            api_base: up.url,
          },
        },
        models: {
          mz: { display_name: 'gpt-z', provider: 'azure', model_name: 'gpt-z', provider_key_id: 'pkz' },
          ms: {
            display_name: 'gpt-slow',
            provider: 'openai',
            model_name: 'gpt-4o',
            provider_key_id: 'pk1',
            timeout: 300,
          },
        },
      }),
    ),
    testConfig(),
  );
});

after(async () => {
  await g.gw.close();
  await up.close();
});

async function call(
  method: string,
  path: string,
  init: { body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; type: string | null }> {
  const r = await fetch(`${g.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${ALL_KEY}`, ...init.headers },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  return { status: r.status, body: await r.text(), type: r.headers.get('content-type') };
}

test('upstream error bodies are relayed without the credentials the gateway sent (§1.2)', async () => {
  // An upstream that echoes the credential it received, as some do in "invalid key" messages.
  up.handle((req, res) => {
    const auth = String(req.headers.authorization ?? '');
    const azure = String(req.headers['api-key'] ?? '');
    if (req.url.includes('plain')) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`bad key ${auth.slice('Bearer '.length)}`);
      return;
    }
    const status = req.url.includes('boom') ? 500 : 401;
    json(res, status, { error: { message: `Incorrect API key provided: ${auth}${azure}`, code: 'bad_key' } });
  });
  try {
    const cases: [string, string, number][] = [
      ['GET', '/v1/files/file-x?model=gpt-4o-mini', 401],
      ['GET', '/v1/batches/boom?model=gpt-4o-mini', 500],
      ['POST', '/v1/fine_tuning/jobs/ftjob-1/cancel?model=gpt-4o-mini', 401],
      ['GET', '/v1/files/plain/content?model=gpt-4o-mini', 400],
      ['GET', '/v1/files?model=gpt-4o-mini', 401],
      ['GET', '/v1/files/file-x?model=gpt-z', 401],
    ];
    for (const [method, path, status] of cases) {
      const r = await call(method, path);
      assert.equal(r.status, status, `${method} ${path}: ${r.body}`);
      assert.doesNotMatch(r.body, /sk-upstream-secret/, `${method} ${path}: ${r.body}`);
      assert.ok(!r.body.includes(AZURE_SECRET), `${method} ${path}: ${r.body}`);
      // The rest of the upstream message still reaches the caller.
      assert.match(r.body, /(Incorrect API key provided|bad key)/);
    }
    const create = await call('POST', '/v1/batches', {
      body: JSON.stringify({
        input_file_id: 'file-1',
        model: 'gpt-4o-mini',
        endpoint: '/v1/chat/completions',
      }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(create.status, 401);
    assert.doesNotMatch(create.body, /sk-upstream-secret/);
    assert.equal(JSON.parse(create.body).error.code, 'bad_key');
  } finally {
    up.handle((_req, res) => json(res, 200, { id: 'file-1', object: 'file' }));
  }
});

test('an upload whose `file` part has no filename is the file, sent on as `file` (§5.5)', async () => {
  const B = 'nofilenameboundary';
  const body = [
    `--${B}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n`,
    `--${B}\r\nContent-Disposition: form-data; name="file"\r\n\r\n{"custom_id":"r1"}\n\r\n`,
    `--${B}--\r\n`,
  ].join('');
  const before = up.requests.length;
  const r = await call('POST', '/v1/files', {
    body,
    headers: { 'content-type': `multipart/form-data; boundary=${B}`, 'x-aisix-model': 'gpt-4o-mini' },
  });
  assert.equal(r.status, 200, r.body);
  assert.match(JSON.parse(r.body).id, /^aisix-/);
  const seen = up.requests[before];
  assert.ok(seen, 'the upload reached the upstream');
  assert.equal(seen.url, '/v1/files');
  assert.match(seen.body, /name="file"; filename="file"\r\n[\s\S]*\r\n\r\n\{"custom_id":"r1"\}\n\r\n/);
  assert.match(seen.body, /name="purpose"\r\n\r\nbatch\r\n/);
});

test('a job body nested deeper than 128 levels is a 400 invalid JSON request body, never a 500; no upstream call', async () => {
  const before = up.requests.length;
  const deep = (levels: number) =>
    `{"input_file_id":"file-1","model":"gpt-4o-mini","endpoint":"/v1/chat/completions","metadata":{"d":${'['.repeat(levels)}${']'.repeat(levels)}}}`;
  const r = await call('POST', '/v1/batches', {
    body: deep(20_000),
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(r.status, 400, r.body);
  assert.deepEqual(JSON.parse(r.body), {
    error: {
      message: 'request payload is invalid: invalid JSON request body: nested deeper than 128 levels',
      type: 'invalid_request_error',
    },
  });
  assert.equal(up.requests.length, before);
  const ok = await call('POST', '/v1/batches', {
    body: deep(120),
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(ok.status, 200, ok.body);
});

test('file ids in a create body are used as sent, never percent-decoded: `%` fails the raw-id guard (§5.2)', async () => {
  const c = new OpenAI({ apiKey: ALL_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  const before = up.requests.length;
  const refused = (field: string, raw: string) => (e: unknown) => {
    assert.ok(e instanceof OpenAI.BadRequestError, `${field}: ${String(e)}`);
    assert.deepEqual(e.error, {
      message: `malformed resource id ${JSON.stringify(raw)}`,
      type: 'invalid_request_error',
    });
    return true;
  };
  // `file-%61bc` is not `file-abc`: an id the caller never had must not reach the provider.
  await assert.rejects(
    c.batches.create(
      { input_file_id: 'file-%61bc', endpoint: '/v1/chat/completions', completion_window: '24h' },
      { query: { model: 'gpt-4o-mini' } },
    ),
    refused('input_file_id', 'file-%61bc'),
  );
  await assert.rejects(
    c.fineTuning.jobs.create(
      { model: 'gpt-4o-mini-2024-07-18', training_file: 'file-%2E%2E' },
      { query: { model: 'gpt-4o-mini' } },
    ),
    refused('training_file', 'file-%2E%2E'),
  );
  await assert.rejects(
    c.fineTuning.jobs.create(
      { model: 'gpt-4o-mini-2024-07-18', training_file: 'file-1', validation_file: 'file-%31' },
      { query: { model: 'gpt-4o-mini' } },
    ),
    refused('validation_file', 'file-%31'),
  );
  assert.equal(up.requests.length, before, 'no upstream call');
});

test('fine-tuning pause, resume and checkpoints (openai SDK) route back by the encoded job id', async () => {
  const c = new OpenAI({ apiKey: ALL_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  up.handle((req, res) => {
    if (req.url.startsWith('/v1/fine_tuning/jobs/ftjob-7/checkpoints'))
      return json(res, 200, {
        object: 'list',
        data: [{ id: 'ftckpt-1', object: 'fine_tuning.job.checkpoint', fine_tuning_job_id: 'ftjob-7' }],
        has_more: false,
      });
    const status = req.url.endsWith('/pause') ? 'paused' : 'running';
    json(res, 200, { id: 'ftjob-7', object: 'fine_tuning.job', status, training_file: 'file-t' });
  });
  try {
    const job = await c.fineTuning.jobs.retrieve('ftjob-7', { query: { model: 'gpt-4o-mini' } });
    assert.match(job.id, /^aisix-/);
    const paused = await c.fineTuning.jobs.pause(job.id);
    assert.equal(up.requests.at(-1)?.method, 'POST');
    assert.equal(up.requests.at(-1)?.url, '/v1/fine_tuning/jobs/ftjob-7/pause');
    assert.equal(paused.status, 'paused');
    assert.equal(paused.id, job.id, 'the answer carries the gateway id');
    assert.equal(paused.training_file, job.training_file);
    const resumed = await c.fineTuning.jobs.resume(job.id);
    assert.equal(up.requests.at(-1)?.url, '/v1/fine_tuning/jobs/ftjob-7/resume');
    assert.equal(resumed.status, 'running');
    const page = await c.fineTuning.jobs.checkpoints.list(job.id, { limit: 5, after: 'ftckpt-0' });
    assert.equal(up.requests.at(-1)?.method, 'GET');
    assert.equal(up.requests.at(-1)?.url, '/v1/fine_tuning/jobs/ftjob-7/checkpoints?limit=5&after=ftckpt-0');
    assert.deepEqual(
      page.data.map((d) => d.id),
      ['ftckpt-1'],
    );
    for (const [method, path] of [
      ['GET', `/v1/fine_tuning/jobs/${job.id}/pause`],
      ['POST', `/v1/fine_tuning/jobs/${job.id}/checkpoints`],
    ] as const) {
      const r = await call(method, path);
      assert.equal(r.status, 405, `${method} ${path}`);
    }
  } finally {
    up.handle((_req, res) => json(res, 200, { id: 'file-1', object: 'file' }));
  }
});

test('an upstream answer cut before anything was relayed is a 502 transport_error, never a reset (data-plane §7.3)', async () => {
  const c = new OpenAI({ apiKey: ALL_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  // `m1` is the id of the `gpt-4o-mini` Model (standardDocs).
  const failures = () => g.gw.health.state('m1')?.consecutiveFailures ?? 0;
  // The head promises a body the upstream never finishes: an error answer (read whole to be
  // scrubbed) and a resource answer (read whole to rewrite its ids) are both held before the head.
  const cut = (status: number) => (_req: unknown, res: import('node:http').ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': '4096' });
    res.write(status === 200 ? '{"id":"batch_1","object":"batch","status":' : '{"error":{"message":');
    setTimeout(() => res.socket?.destroy(), 20);
  };
  try {
    for (const status of [400, 500, 200]) {
      up.handle(cut(status));
      const before = failures();
      const err = await c.batches.retrieve('batch_1', { query: { model: 'gpt-4o-mini' } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof OpenAI.APIError, `${status}: expected an API error, got ${String(err)}`);
      assert.equal(err.status, 502, `${status}`);
      assert.equal((err.error as { type?: string }).type, 'transport_error', `${status}`);
      assert.equal(failures(), before + 1, `${status}: the attempt counts as the target's failure`);
    }
    // An answer that stalls while it is read runs into the Model's request deadline: 504.
    up.handle((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json', 'content-length': '4096' });
      res.write('{"error":');
    });
    const slow = await call('GET', '/v1/batches/batch_1?model=gpt-slow');
    assert.equal(slow.status, 504, slow.body);
    assert.equal(JSON.parse(slow.body).error.type, 'timeout');
    // A batch create (POST) is answered the same way.
    up.handle(cut(400));
    const r = await call('POST', '/v1/batches', {
      body: JSON.stringify({
        input_file_id: 'file-1',
        model: 'gpt-4o-mini',
        endpoint: '/v1/chat/completions',
      }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 502);
    assert.equal(JSON.parse(r.body).error.type, 'transport_error');
  } finally {
    up.handle((_req, res) => json(res, 200, { id: 'file-1', object: 'file' }));
  }
});
