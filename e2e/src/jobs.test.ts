/**
 * Files, batches and fine-tuning jobs (issue 12), end to end: a real `aisix` process (embedded
 * store, resources written through the Admin API), the official `openai` client, and two mock
 * OpenAI job upstreams on real local HTTP servers that record what they receive. Ids the
 * gateway returns carry the Model, so calls with only an id go back to the upstream that made
 * it; a completed batch's usage reaches an OTLP collector as `batch` events.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { request } from 'undici';
import {
  AdminClient,
  type AisixProcess,
  removeDir,
  startAisix,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';
import { batchOutput, type JobsUpstream, type SeenRequest, startJobsUpstream } from './jobs-upstream.js';

const enc = (raw: string, alias: string) =>
  `aisix-${Buffer.from(`${raw};model,${alias}`).toString('base64url')}`;

function uuidV5Url(name: string): string {
  const ns = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
  const h = createHash('sha1').update(ns).update(name).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

interface Span {
  attributes: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}

/** An OTLP/HTTP JSON collector keeping every span it receives. */
async function startCollector(): Promise<{ url: string; spans: Span[]; server: Server }> {
  const spans: Span[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const doc = JSON.parse(Buffer.concat(chunks).toString()) as {
      resourceSpans?: { scopeSpans?: { spans?: Span[] }[] }[];
    };
    for (const rs of doc.resourceSpans ?? [])
      for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, spans, server };
}

const attr = (s: Span, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : undefined);
};

describe('job APIs through the official OpenAI client', () => {
  const dir = tempDir('jobs');
  let p: AisixProcess;
  let a: JobsUpstream;
  let b: JobsUpstream;
  let z: JobsUpstream;
  let col: Awaited<ReturnType<typeof startCollector>>;
  let client: OpenAI;
  let narrow: OpenAI;
  let none: OpenAI;
  let uploadedA = '';
  let gptB = '';
  let api: AdminClient;

  const last = (u: JobsUpstream): SeenRequest => {
    const r = u.seen[u.seen.length - 1];
    assert.ok(r, 'the upstream saw no request');
    return r;
  };

  before(async () => {
    [a, b, z, col] = await Promise.all([
      startJobsUpstream('a'),
      startJobsUpstream('b'),
      startJobsUpstream('z', '/openai'),
      startCollector(),
    ]);
    p = await startAisix({ name: 'jobs', dir, role: 'all' });
    await waitStatus(p, `${p.proxyUrl}/readyz`, 200);
    api = new AdminClient(p.adminUrl);
    const pkA = await api.create('provider_keys', {
      display_name: 'pk-a',
      provider: 'openai',
      api_key: 'sk-upstream-a',
      api_base: `${a.base}/v1`,
      request: { default_headers: { 'x-team': 'alpha', 'X-Aisix-Request-Id': 'forged-by-template' } },
    });
    const pkB = await api.create('provider_keys', {
      display_name: 'pk-b',
      provider: 'openai',
      api_key: 'sk-upstream-b',
      api_base: b.base,
    });
    const pkZ = await api.create('provider_keys', {
      display_name: 'pk-azure',
      provider: 'azure',
      adapter: 'azure-openai',
      api_key: 'az-upstream-key',
      api_base: z.base,
    });
    const pkC = await api.create('provider_keys', {
      display_name: 'pk-claude',
      provider: 'anthropic',
      api_key: 'sk-ant',
      api_base: b.base,
    });
    const model = (name: string, pk: string, extra: Record<string, unknown> = {}) =>
      api.create('models', {
        display_name: name,
        provider: 'openai',
        model_name: name,
        provider_key_id: pk,
        ...extra,
      });
    await model('gpt-a', pkA.id, { cost: { input_per_1k: 1, output_per_1k: 2 } });
    gptB = (await model('gpt-b', pkB.id)).id;
    await model('gpt-z', pkZ.id);
    await api.create('models', {
      display_name: 'claude',
      provider: 'anthropic',
      model_name: 'claude-x',
      provider_key_id: pkC.id,
    });
    await api.create('observability_exporters', { name: 'collector', kind: 'otlp_http', endpoint: col.url });
    const noModels = await api.create('api_keys', { allowed_models: ['claude'] });
    const onlyB = await api.create('api_keys', { allowed_models: ['gpt-b'] });
    // Seeded last: once it authenticates, everything above is served.
    const all = await api.create('api_keys', { allowed_models: ['*'] });
    assert.ok(all.plaintext && onlyB.plaintext && noModels.plaintext);
    const opts = { baseURL: `${p.proxyUrl}/v1`, maxRetries: 0 };
    client = new OpenAI({ apiKey: all.plaintext, ...opts });
    narrow = new OpenAI({ apiKey: onlyB.plaintext, ...opts });
    none = new OpenAI({ apiKey: noModels.plaintext, ...opts });
    const key = all.plaintext;
    await waitUntil(
      'the caller key authenticates',
      async () =>
        (await request(`${p.proxyUrl}/v1/models`, { headers: { authorization: `Bearer ${key}` } }))
          .statusCode === 200
          ? true
          : undefined,
      { timeoutMs: 10_000, alive: [p] },
    );
  });

  after(async () => {
    await p?.kill();
    await Promise.all([a?.close(), b?.close(), z?.close()]);
    col?.server.close();
    removeDir(dir);
  });

  test('upload with x-aisix-model: an aisix- id, the PK bearer upstream, purpose and file parts, no model part', async () => {
    const f = await client.files.create(
      { file: await toFile(Buffer.from('{"custom_id":"r1"}\n'), 'input.jsonl'), purpose: 'batch' },
      { headers: { 'x-aisix-model': 'gpt-a' } },
    );
    const seen = last(a);
    assert.equal(f.id, enc('file-a-1', 'gpt-a'));
    uploadedA = f.id;
    assert.equal(f.filename, 'input.jsonl');
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/v1/files');
    assert.equal(seen.headers.authorization, 'Bearer sk-upstream-a');
    const names = seen.parts?.map((x) => x.name);
    assert.deepEqual(names?.sort(), ['file', 'purpose']);
    assert.equal(seen.parts?.find((x) => x.name === 'purpose')?.bytes.toString(), 'batch');
    assert.equal(seen.parts?.find((x) => x.name === 'file')?.bytes.toString(), '{"custom_id":"r1"}\n');
    // PK default headers arrive; the gateway's request id is neither doubled nor overridden.
    assert.equal(seen.headers['x-team'], 'alpha');
    const ids = seen.rawHeaders.filter(
      (_, i, h) => i % 2 === 0 && h[i]?.toLowerCase() === 'x-aisix-request-id',
    );
    assert.equal(ids.length, 1);
    assert.notEqual(seen.headers['x-aisix-request-id'], 'forged-by-template');
    assert.match(String(seen.headers['x-aisix-request-id']), /^[0-9a-f-]{36}$/);
  });

  test('upload with a raw multipart model field routes by it and does not forward it', async () => {
    const form = new FormData();
    form.append('model', 'gpt-b');
    form.append('purpose', 'fine-tune');
    form.append('file', new Blob(['{"messages":[]}\n'], { type: 'application/jsonl' }), 'train.jsonl');
    const before = b.seen.length;
    const r = await fetch(`${p.proxyUrl}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}` },
      body: form,
    });
    assert.equal(r.status, 200);
    const body = (await r.json()) as { id: string };
    assert.equal(b.seen.length, before + 1);
    const seen = last(b);
    assert.equal(body.id, enc(`file-b-${b.seen.length}`, 'gpt-b'));
    assert.equal(seen.headers.authorization, 'Bearer sk-upstream-b');
    assert.deepEqual(seen.parts?.map((x) => x.name).sort(), ['file', 'purpose']);
    const file = seen.parts?.find((x) => x.name === 'file');
    assert.equal(file?.filename, 'train.jsonl');
    assert.equal(file?.type, 'application/jsonl');
  });

  test('files: retrieve, content and delete route back by the encoded id; list forwards the query without model', async () => {
    const got = await client.files.retrieve(uploadedA);
    assert.equal(last(a).url, '/v1/files/file-a-1');
    assert.equal(got.id, uploadedA);
    const content = await client.files.content(uploadedA);
    assert.equal(await content.text(), 'content of file-a-1');
    assert.equal(last(a).url, '/v1/files/file-a-1/content');
    const del = await client.files.delete(uploadedA);
    assert.equal(del.id, uploadedA);
    assert.equal(del.deleted, true);
    assert.equal(last(a).method, 'DELETE');
    const page = await client.files.list(
      { purpose: 'batch' },
      { query: { purpose: 'batch', model: 'gpt-b' } },
    );
    assert.equal(last(b).url, '/v1/files?purpose=batch');
    // List answers are relayed as they are (AJ-11: not rewritten).
    assert.equal(page.data[0]?.id, 'file-b-listed');
  });

  test('batches: create needs no hint and sends the raw input_file_id without model; retrieve, cancel, list', async () => {
    const batch = await client.batches.create({
      input_file_id: uploadedA,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const seen = last(a);
    assert.equal(seen.url, '/v1/batches');
    const sent = JSON.parse(seen.body.toString()) as Record<string, unknown>;
    assert.deepEqual(sent, {
      input_file_id: 'file-a-1',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    assert.equal(batch.id, enc('batch_a_1', 'gpt-a'));
    assert.equal(batch.input_file_id, uploadedA);

    const done = await client.batches.retrieve(batch.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.output_file_id, enc('file-out-a', 'gpt-a'));
    assert.equal(done.input_file_id, enc('file-a-in', 'gpt-a'));
    // An empty error_file_id stays empty.
    assert.equal(done.error_file_id, '');
    // The gateway downloads the output file itself, with the PK credential.
    const own = await waitUntil(
      'the gateway fetches the batch output',
      async () => a.seen.find((r) => r.url === '/v1/files/file-out-a/content'),
      { timeoutMs: 10_000, alive: [p] },
    );
    assert.equal(own.headers.authorization, 'Bearer sk-upstream-a');
    // One usage event per provider model, `batch` protocol, idempotent request ids, cost.
    const spans = await waitUntil(
      'batch usage events at the collector',
      async () => {
        const s = col.spans.filter(
          (x) =>
            attr(x, 'gen_ai.usage.input_tokens') !== undefined &&
            String(attr(x, 'aisix.request_id')).length === 36 &&
            [uuidV5Url('aisix:batch:batch_a_1:0'), uuidV5Url('aisix:batch:batch_a_1:1')].includes(
              String(attr(x, 'aisix.request_id')),
            ),
        );
        return s.length === 2 ? s : undefined;
      },
      { timeoutMs: 15_000, alive: [p] },
    );
    const byModel = new Map(spans.map((s) => [attr(s, 'gen_ai.response.model'), s]));
    const mini = byModel.get('gpt-4o-mini-2024-07-18');
    const big = byModel.get('gpt-4o-2024-08-06');
    assert.ok(mini && big);
    assert.equal(attr(mini, 'gen_ai.usage.input_tokens'), 30);
    assert.equal(attr(mini, 'gen_ai.usage.output_tokens'), 12);
    assert.equal(attr(big, 'gen_ai.usage.input_tokens'), 100);
    assert.equal(attr(big, 'gen_ai.usage.output_tokens'), 50);
    assert.ok(batchOutput().includes('gpt-4o-2024-08-06'));

    // Attributed once per process: a second retrieve downloads nothing.
    const downloads = () => a.seen.filter((r) => r.url === '/v1/files/file-out-a/content').length;
    await client.batches.retrieve(batch.id);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(downloads(), 1);

    // The output content downloads through the encoded id.
    const out = await client.files.content(done.output_file_id as string);
    assert.equal(await out.text(), batchOutput());

    const cancelled = await client.batches.cancel(batch.id);
    assert.equal(last(a).method, 'POST');
    assert.equal(last(a).url, '/v1/batches/batch_a_1/cancel');
    assert.equal(cancelled.status, 'cancelling');
    assert.equal(cancelled.id, batch.id);

    const list = await client.batches.list({ limit: 2 }, { headers: { 'x-aisix-model': 'gpt-a' } });
    assert.equal(last(a).url, '/v1/batches?limit=2');
    assert.equal(list.data[0]?.id, 'batch_a_listed');
  });

  test('fine-tuning routes by the encoded training_file and forwards the base model verbatim', async () => {
    const train = await client.files.create(
      { file: await toFile(Buffer.from('{"messages":[]}\n'), 'train.jsonl'), purpose: 'fine-tune' },
      { headers: { 'x-aisix-model': 'gpt-b' } },
    );
    const valid = await client.files.create(
      { file: await toFile(Buffer.from('{"messages":[]}\n'), 'valid.jsonl'), purpose: 'fine-tune' },
      { headers: { 'x-aisix-model': 'gpt-b' } },
    );
    const rawTrain = `file-b-${b.seen.length - 1}`;
    const rawValid = `file-b-${b.seen.length}`;
    const job = await client.fineTuning.jobs.create({
      model: 'gpt-4o-mini-2024-07-18',
      training_file: train.id,
      validation_file: valid.id,
    });
    const seen = last(b);
    assert.equal(seen.url, '/v1/fine_tuning/jobs');
    assert.deepEqual(JSON.parse(seen.body.toString()), {
      model: 'gpt-4o-mini-2024-07-18',
      training_file: rawTrain,
      validation_file: rawValid,
    });
    assert.equal(job.id, enc('ftjob-b', 'gpt-b'));
    assert.equal(job.training_file, train.id);
    assert.equal(job.validation_file, valid.id);
    assert.equal(job.model, 'gpt-4o-mini-2024-07-18');

    const got = await client.fineTuning.jobs.retrieve(job.id);
    assert.equal(last(b).url, '/v1/fine_tuning/jobs/ftjob-b');
    assert.deepEqual(got.result_files, [enc('file-b-result', 'gpt-b')]);
    const events = await client.fineTuning.jobs.listEvents(job.id, { limit: 5 });
    assert.equal(last(b).url, '/v1/fine_tuning/jobs/ftjob-b/events?limit=5');
    assert.equal(events.data[0]?.message, 'ftjob-b started');
    const cancelled = await client.fineTuning.jobs.cancel(job.id);
    assert.equal(last(b).url, '/v1/fine_tuning/jobs/ftjob-b/cancel');
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.id, job.id);
    const list = await client.fineTuning.jobs.list({ limit: 1 }, { query: { limit: 1, model: 'gpt-b' } });
    assert.equal(last(b).url, '/v1/fine_tuning/jobs?limit=1');
    assert.equal(list.data[0]?.id, 'ftjob-b-listed');
  });

  test('no key → 401; the caller key ACL applies to ids and hints → 403', async () => {
    const anon = new OpenAI({ apiKey: 'not-a-key', baseURL: `${p.proxyUrl}/v1`, maxRetries: 0 });
    await assert.rejects(anon.files.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
    const r = await request(`${p.proxyUrl}/v1/batches`, { method: 'GET' });
    assert.equal(r.statusCode, 401);
    await r.body.text();
    const seenA = a.seen.length;
    await assert.rejects(narrow.files.retrieve(enc('file-a-1', 'gpt-a')), (e: unknown) => {
      assert.ok(e instanceof OpenAI.PermissionDeniedError);
      assert.equal((e.error as { type?: string }).type, 'permission_denied');
      return true;
    });
    await assert.rejects(
      narrow.files.create(
        { file: await toFile(Buffer.from('x'), 'x.jsonl'), purpose: 'batch' },
        { headers: { 'x-aisix-model': 'gpt-a' } },
      ),
      (e: unknown) => e instanceof OpenAI.PermissionDeniedError,
    );
    assert.equal(a.seen.length, seenA, 'nothing reached the upstream of a model the key may not use');
    // Its own model works, and the default target is the first one it may use.
    const listed = await narrow.batches.list();
    assert.equal(listed.data[0]?.id, 'batch_b_listed');
  });

  test('unknown, forged and malformed ids get the catalogue 4xx without an upstream call', async () => {
    const before = a.seen.length + b.seen.length;
    await assert.rejects(client.files.retrieve(enc('file-x', 'no-such-model')), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError);
      assert.equal((e.error as { type?: string }).type, 'model_not_found');
      return true;
    });
    for (const path of [
      '/v1/files/bad$id',
      '/v1/batches/a%2Fb',
      `/v1/files/${enc('..', 'gpt-a')}`,
      `/v1/fine_tuning/jobs/${enc('../etc', 'gpt-a')}/cancel`,
    ]) {
      const r = await request(`${p.proxyUrl}${path}`, {
        method: path.endsWith('/cancel') ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${client.apiKey}` },
      });
      const body = (await r.body.json()) as { error: { message: string; type: string } };
      assert.equal(r.statusCode, 400, path);
      assert.match(body.error.message, /^malformed resource id "/);
    }
    assert.equal(a.seen.length + b.seen.length, before);
    // A raw provider id routes by the hint; the upstream's own 404 is relayed.
    await assert.rejects(
      client.files.retrieve('file-missing', { headers: { 'x-aisix-model': 'gpt-b' } }),
      (e: unknown) => e instanceof OpenAI.NotFoundError && /No such File/.test(e.message),
    );
  });

  test('missing model → 4xx: no accessible model, unknown hint, batch without input_file_id', async () => {
    await assert.rejects(none.files.list(), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.match(e.message, /no model specified and no accessible OpenAI-compatible model found/);
      return true;
    });
    await assert.rejects(
      client.files.list({}, { headers: { 'x-aisix-model': 'missing' } }),
      (e: unknown) => e instanceof OpenAI.NotFoundError,
    );
    await assert.rejects(
      client.files.list({}, { headers: { 'x-aisix-model': 'claude' } }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /adapter openai or azure-openai/.test(e.message),
    );
    await assert.rejects(
      client.batches.create({
        input_file_id: '',
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /input_file_id/.test(e.message),
    );
  });

  test('bad uploads: not multipart, no file part, model after the file', async () => {
    const auth = { authorization: `Bearer ${client.apiKey}` };
    const json = await request(`${p.proxyUrl}/v1/files`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"purpose":"batch"}',
    });
    assert.equal(json.statusCode, 400);
    assert.match(
      ((await json.body.json()) as { error: { message: string } }).error.message,
      /invalid multipart form data/,
    );
    const noFile = new FormData();
    noFile.append('purpose', 'batch');
    const r1 = await fetch(`${p.proxyUrl}/v1/files`, { method: 'POST', headers: auth, body: noFile });
    assert.equal(r1.status, 400);
    assert.match(
      ((await r1.json()) as { error: { message: string } }).error.message,
      /must include a `file` field/,
    );
    const late = new FormData();
    late.append('purpose', 'batch');
    late.append('file', new Blob(['abc']), 'a.jsonl');
    late.append('model', 'gpt-a');
    const r2 = await fetch(`${p.proxyUrl}/v1/files`, {
      method: 'POST',
      headers: { ...auth, 'x-aisix-model': 'gpt-b' },
      body: late,
    });
    assert.equal(r2.status, 400);
    assert.match(
      ((await r2.json()) as { error: { message: string } }).error.message,
      /must come before `file`/,
    );
  });

  test('the upload is streamed: the upstream has file bytes before the caller sends the end of the body', async () => {
    const boundary = 'e2eboundary0123';
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    let seenMidway = 0;
    async function* body() {
      yield head;
      for (let i = 0; i < 8; i++) yield chunk;
      // Held back until the upstream has received part of the file: a gateway that buffered
      // the whole upload would never forward anything, and this wait would time out.
      seenMidway = await waitUntil(
        'file bytes at the upstream mid-upload',
        async () => (a.uploadProgress() > 0 ? a.uploadProgress() : undefined),
        {
          timeoutMs: 10_000,
        },
      );
      for (let i = 0; i < 8; i++) yield chunk;
      yield tail;
    }
    const r = await request(`${p.proxyUrl}/v1/files`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${client.apiKey}`,
        'x-aisix-model': 'gpt-a',
        'content-type': `multipart/form-data; boundary=${boundary}`,
      },
      body: Readable.from(body()),
    });
    const answer = (await r.body.json()) as { id: string; bytes: number };
    assert.equal(r.statusCode, 200);
    assert.ok(seenMidway > 0);
    assert.equal(answer.bytes, 16 * chunk.length);
    const file = last(a).parts?.find((x) => x.name === 'file');
    assert.equal(file?.bytes.length, 16 * chunk.length);
    assert.ok(file?.bytes.every((x) => x === 0x61));
  });

  test('guardrails of the serving Model: a blocked batch body, uploaded file or downloaded content is a 422', async () => {
    const g = await api.create('guardrails', {
      name: 'no-secrets',
      kind: 'keyword',
      patterns: [{ kind: 'literal', value: 'top-secret-word' }],
    });
    await api.create('guardrail_attachments', {
      guardrail_id: g.id,
      scope_type: 'model',
      scope_id: gptB,
      priority: 1,
    });
    const train = await client.files.create(
      { file: await toFile(Buffer.from('{"ok":true}\n'), 'ok.jsonl'), purpose: 'batch' },
      { headers: { 'x-aisix-model': 'gpt-b' } },
    );
    const seenB = () => b.seen.length;
    const blockedCreate = () =>
      client.batches.create({
        input_file_id: train.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        metadata: { note: 'contains top-secret-word' },
      });
    const before = seenB();
    const e = await waitUntil(
      'the guardrail applies',
      async () => {
        try {
          await blockedCreate();
          return undefined;
        } catch (err) {
          return err instanceof OpenAI.APIError && err.status === 422 ? err : undefined;
        }
      },
      { timeoutMs: 10_000, alive: [p] },
    );
    assert.equal((e.error as { type?: string }).type, 'content_filter');
    assert.match(e.message, /request blocked by content policy \(guardrail 'no-secrets'\)/);
    assert.ok(
      b.seen.slice(before).every((r) => r.url !== '/v1/batches'),
      'no blocked batch reached the upstream',
    );

    const uploadsBefore = b.seen.filter((r) => r.parts !== undefined).length;
    await assert.rejects(
      client.files.create(
        {
          file: await toFile(Buffer.from('line one\nthe top-secret-word here\n'), 'leak.jsonl'),
          purpose: 'batch',
        },
        { headers: { 'x-aisix-model': 'gpt-b' } },
      ),
      (err: unknown) => err instanceof OpenAI.APIError && err.status === 422,
    );
    // The upstream request was aborted before the closing boundary: no upload completed there.
    assert.equal(b.seen.filter((r) => r.parts !== undefined).length, uploadsBefore);

    await assert.rejects(
      client.files.content('file-top-secret-word', { headers: { 'x-aisix-model': 'gpt-b' } }),
      (err: unknown) =>
        err instanceof OpenAI.APIError && err.status === 422 && /response blocked/.test(err.message),
    );
    // Other Models are not scanned by it.
    const okA = await client.files.content('file-top-secret-word', { headers: { 'x-aisix-model': 'gpt-a' } });
    assert.equal(await okA.text(), 'content of file-top-secret-word');
  });

  test('Azure OpenAI: <origin>/openai<path>?api-version=2024-10-21 with the api-key header, ids round-trip', async () => {
    const f = await client.files.create(
      { file: await toFile(Buffer.from('{"custom_id":"z"}\n'), 'z.jsonl'), purpose: 'batch' },
      { headers: { 'x-aisix-model': 'gpt-z' } },
    );
    const up = last(z);
    assert.equal(up.url, '/openai/files?api-version=2024-10-21');
    assert.equal(up.headers['api-key'], 'az-upstream-key');
    assert.equal(up.headers.authorization, undefined);
    assert.equal(f.id, enc(`file-z-${z.seen.length}`, 'gpt-z'));
    const batch = await client.batches.create({
      input_file_id: f.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    assert.equal(last(z).url, '/openai/batches?api-version=2024-10-21');
    assert.equal(batch.id, enc('batch_z_1', 'gpt-z'));
    await client.batches.list({}, { query: { model: 'gpt-z', 'api-version': '2025-03-01-preview' } });
    assert.equal(last(z).url, '/openai/batches?api-version=2025-03-01-preview');
  });
});
