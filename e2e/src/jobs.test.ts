/**
 * Files, batches and fine-tuning jobs (issue 12), end to end through the official `openai`
 * client (`jobs-rig.ts`: a real `aisix` process, recording mock upstreams, an OTLP collector).
 * Ids the gateway returns carry the Model, so calls with only an id go back to the upstream
 * that made them; a completed batch's usage reaches the collector as `batch` events.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type OpenAI from 'openai';
import { toFile } from 'openai';
import { type AisixProcess, waitUntil } from './harness.js';
import { attr, enc, type JobsRig, last, startJobsRig, uuidV5Url } from './jobs-rig.js';
import { batchOutput, type JobsUpstream } from './jobs-upstream.js';

describe('jobs: files, batches, fine-tuning', () => {
  let rig: JobsRig | undefined;
  let p: AisixProcess;
  let a: JobsUpstream;
  let b: JobsUpstream;
  let col: JobsRig['col'];
  let client: OpenAI;
  let uploadedA = '';

  before(async () => {
    rig = await startJobsRig('jobs-core');
    ({ p, a, b, col, client } = rig);
  });

  after(async () => {
    await rig?.close();
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

  test('a failed output download is retried on the next retrieve; a done one is not repeated', async () => {
    const id = enc('batch_flaky', 'gpt-a');
    const downloads = () => a.seen.filter((r) => r.url === '/v1/files/file-out-flaky/content').length;
    await client.batches.retrieve(id);
    await waitUntil('the first (failing) download', async () => (downloads() === 1 ? true : undefined), {
      timeoutMs: 10_000,
      alive: [p],
    });
    // The failure is settled once the mark is cleared: poll with retrieves until a second download.
    await waitUntil(
      'a second download after the failure',
      async () => {
        await client.batches.retrieve(id);
        return downloads() >= 2 ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100, alive: [p] },
    );
    const after = downloads();
    await client.batches.retrieve(id);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(downloads(), after, 'attributed once it succeeded');
  });
});
