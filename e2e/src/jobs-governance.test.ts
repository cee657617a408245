/**
 * The job APIs' refusals and governance end to end (`jobs-rig.ts`): caller auth and the key
 * ACL, forged and malformed ids, missing models, bad uploads, the streamed upload, guardrails,
 * the Azure upstream, limits and metric labels.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { request } from 'undici';
import { type AdminClient, type AisixProcess, waitUntil } from './harness.js';
import { enc, type JobsRig, last, startJobsRig } from './jobs-rig.js';
import type { JobsUpstream } from './jobs-upstream.js';

describe('jobs governance: auth, ids, uploads, guardrails, Azure, limits', () => {
  let rig: JobsRig | undefined;
  let p: AisixProcess;
  let a: JobsUpstream;
  let b: JobsUpstream;
  let z: JobsUpstream;
  let client: OpenAI;
  let narrow: OpenAI;
  let none: OpenAI;
  let api: AdminClient;
  let gptB: string;

  before(async () => {
    rig = await startJobsRig('jobs-gov');
    ({ p, a, b, z, client, narrow, none, api, gptB } = rig);
  });

  after(async () => {
    await rig?.close();
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
      client.files.list({}, { headers: { 'x-aisix-model': 'grp' } }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /routing model/.test(e.message),
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

  test('limits: the Model inline limit counts every job call; metrics label the route templates', async () => {
    const hint = { headers: { 'x-aisix-model': 'gpt-limited' } };
    await client.files.list({}, hint);
    await client.files.retrieve('file-1', hint);
    const before = b.seen.length;
    await assert.rejects(client.batches.list({}, hint), (e: unknown) => {
      assert.ok(e instanceof OpenAI.RateLimitError);
      assert.equal((e.error as { type?: string }).type, 'rate_limit_exceeded');
      assert.ok(Number(e.headers.get('retry-after')) > 0);
      return true;
    });
    assert.equal(b.seen.length, before, 'a refused call does not reach the upstream');
    const metrics = await (await request(`${p.metricsUrl}/metrics`)).body.text();
    for (const label of [
      '/v1/files',
      '/v1/files/:id',
      '/v1/batches',
      '/v1/batches/:id',
      '/v1/fine_tuning/jobs/:id',
    ])
      assert.ok(metrics.includes(`endpoint="${label}"`), label);
    assert.ok(!/endpoint="\/v1\/files\/file-/.test(metrics), 'ids never become label values');
  });

  test('upstream answers are relayed as they are (status, body, Retry-After); an unreachable one is a 502', async () => {
    await assert.rejects(
      client.files.retrieve('file-busy', { headers: { 'x-aisix-model': 'gpt-b' } }),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.RateLimitError);
        assert.equal(e.headers.get('retry-after'), '7');
        assert.match(e.message, /Slow down/);
        return true;
      },
    );
    await assert.rejects(
      client.files.list({}, { headers: { 'x-aisix-model': 'gpt-dead' } }),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.APIError);
        assert.equal(e.status, 502);
        assert.equal((e.error as { type?: string }).type, 'transport_error');
        assert.ok(!e.message.includes('127.0.0.1'), 'no upstream host in the message');
        return true;
      },
    );
  });
});
