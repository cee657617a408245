/**
 * Memory bounds of the job APIs (agents-and-jobs.md §5.6, §5.7), with the official openai client
 * against a started gateway and a mock upstream that serves large bodies:
 *
 * - file content streams through as it arrives when no output guardrail applies;
 * - when one applies, the answer is held for the scan only up to the gateway's bound: a larger
 *   one is refused (never relayed unscanned, never half written) and its download is aborted;
 * - the same bound holds the uploaded file's text for an input guardrail;
 * - the completed-batch attribution reads its output file line by line, whatever it holds.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { buildSnapshot, type Docs, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import { json, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';
import { collectingSink } from '../test/usage-sink.js';

const MiB = 1024 * 1024;
/** What the gateway holds at most for a scan with no `proxy.request_body_limit_bytes` set. */
const HELD = 64 * MiB;
const SECRET_WORD = 'Project-Nightingale';

let up: MockUpstream;
let g: Started;
let client: OpenAI;
let rev = 1;
const sink = collectingSink();
const viaModel = { headers: { 'x-aisix-model': 'gpt-4o-mini' } };

/** The standard Model table, with or without a keyword guardrail on every request. */
function use(guarded: boolean, hook: 'input' | 'output' | 'both' = 'both'): void {
  const guardrails = guarded
    ? {
        kw: {
          name: 'no-codenames',
          kind: 'keyword',
          hook_point: hook,
          patterns: [{ kind: 'literal', value: SECRET_WORD }],
        },
      }
    : {};
  g.source.set(buildSnapshot({ ...standardDocs(up.url), guardrails } as Docs, ++rev));
}

before(async () => {
  up = await startMockUpstream((_req, res) => json(res, 404, { error: { message: 'no route' } }));
  g = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  g.gw.usage.attach(sink);
  client = new OpenAI({ apiKey: 'sk-all', baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
});

/**
 * Writes `total` bytes of `a` (with backpressure, then `tail`) and reports how far it got: the
 * gateway aborting the download shows as `ended: false`.
 */
function bigBody(
  res: ServerResponse,
  total: number,
  tail: string,
  head: Record<string, string | number>,
): Promise<{ sent: number; ended: boolean }> {
  return (async () => {
    res.writeHead(200, head);
    const chunk = Buffer.alloc(MiB, 'a');
    let sent = 0;
    while (sent < total) {
      if (res.destroyed) return { sent, ended: false };
      sent += chunk.length;
      if (!res.write(chunk)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
    }
    if (res.destroyed) return { sent, ended: false };
    res.end(tail);
    return { sent, ended: true };
  })();
}

test('without guardrails, file content streams: the first bytes arrive before the upstream finished (§5.1)', async () => {
  use(false);
  let release: () => void = () => undefined;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let finished = false;
  up.handle(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write('{"custom_id":"r1"}\n');
    await released;
    res.end('{"custom_id":"r2"}\n');
    finished = true;
  });
  const r = await client.files.content('file-stream', viaModel);
  assert.equal(r.status, 200);
  const reader = (r.body as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  assert.equal(Buffer.from(first.value ?? []).toString(), '{"custom_id":"r1"}\n');
  assert.equal(finished, false, 'the first line came through while the upstream was still sending');
  release();
  let rest = '';
  for (let c = await reader.read(); !c.done; c = await reader.read()) rest += Buffer.from(c.value).toString();
  assert.equal(rest, '{"custom_id":"r2"}\n');
  assert.equal(up.requests.at(-1)?.url, '/v1/files/file-stream/content');
});

test('with an output guardrail, content past the held bound is refused, not relayed unscanned, and its download is aborted (§5.6)', async () => {
  use(true, 'output');
  // The codename sits past the bound: relaying the head, or the whole unscanned, would leak it.
  const total = HELD + 32 * MiB;
  let upstream: Promise<{ sent: number; ended: boolean }> | undefined;
  up.handle((_req, res) => {
    upstream = bigBody(res, total, SECRET_WORD, { 'content-type': 'application/octet-stream' });
  });
  const closed = up.nextSocketClose();
  const err = await client.files.content('file-huge', viaModel).then(
    (r) => assert.fail(`answered ${r.status}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof OpenAI.APIError, String(err));
  assert.equal(err.status, 502);
  assert.equal((err.error as { type?: string }).type, 'upstream_error');
  assert.match(err.message, /67108864 bytes/);
  assert.match(err.message, /output guardrail/);
  await closed;
  const u = await upstream;
  assert.equal(u?.ended, false, 'the gateway stopped the download');
  assert.ok((u?.sent ?? total) < total);
});

test('a declared length past the bound is refused at once, before the body is read (§5.6)', {
  timeout: 20_000,
}, async () => {
  use(true, 'output');
  up.handle((_req, res) => {
    // Claims 1 GiB, sends a little, then never finishes.
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 1024 * MiB });
    res.write('x'.repeat(1024));
  });
  const closed = up.nextSocketClose();
  const r = await fetch(`${g.base}/v1/files/file-declared/content?model=gpt-4o-mini`, {
    headers: { authorization: 'Bearer sk-all' },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(r.status, 502);
  // A retry would fetch the same oversized answer: the SDKs are told not to.
  assert.equal(r.headers.get('x-should-retry'), 'false');
  const body = (await r.json()) as { error: { type: string; message: string } };
  assert.equal(body.error.type, 'upstream_error');
  await closed;
  // Without a guardrail the same answer is not held: it streams (the client sees the 200 head).
  use(false);
  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 4 * MiB });
    res.write('y'.repeat(1024));
    setTimeout(() => res.destroy(), 200);
  });
  const streamed = await fetch(`${g.base}/v1/files/file-declared/content?model=gpt-4o-mini`, {
    headers: { authorization: 'Bearer sk-all' },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(streamed.status, 200);
  assert.equal(streamed.headers.get('content-length'), String(4 * MiB));
  await streamed.body?.cancel();
});

test('a resource answer (ids rewritten) is read whole only up to the bound too (§5.2)', {
  timeout: 20_000,
}, async () => {
  use(false);
  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1024 * MiB });
    res.write('{"id":"file-1","object":"file","pad":"');
  });
  const closed = up.nextSocketClose();
  const err = await client.files.retrieve('file-1', viaModel).then(
    (f) => assert.fail(`answered ${JSON.stringify(f)}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof OpenAI.APIError, String(err));
  assert.equal(err.status, 502);
  await closed;
});

test('with an input guardrail and no body cap, an upload past the held bound is a 413 and never completes upstream (§5.5, §5.6)', async () => {
  use(true, 'input');
  up.handle((_req, res) => json(res, 200, { id: 'file-up', object: 'file' }));
  const before = up.requests.length;
  const big = Buffer.alloc(HELD + 8 * MiB, 'b');
  const err = await client.files
    .create({ file: await toFile(big, 'big.jsonl'), purpose: 'batch' }, viaModel)
    .then(
      (f) => assert.fail(`answered ${JSON.stringify(f)}`),
      (e: unknown) => e,
    );
  assert.ok(err instanceof OpenAI.APIError, String(err));
  assert.equal(err.status, 413);
  assert.equal((err.error as { type?: string }).type, 'invalid_request_error');
  // The aborted upstream request never reached the mock's handler (its body did not end).
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(up.requests.length, before, 'the upstream never saw a complete upload');
});

/** Answers a completed batch whose output file is `output`. */
function completedBatch(batch: string, file: string, output: (res: ServerResponse) => void): void {
  up.handle((req, res) => {
    if (req.url === `/v1/batches/${batch}`)
      return json(res, 200, { id: batch, object: 'batch', status: 'completed', output_file_id: file });
    if (req.url === `/v1/files/${file}/content`) return output(res);
    json(res, 404, { error: { message: 'no route' } });
  });
}

const usageLine = (model: string, p: number, c: number) =>
  JSON.stringify({
    response: { status_code: 200, body: { model, usage: { prompt_tokens: p, completion_tokens: c } } },
  });

test('batch attribution: an output file naming thousands of models cannot grow the per-model table without bound (§5.7)', async () => {
  use(false);
  const lines = Array.from({ length: 3000 }, (_, i) => usageLine(`model-${i}`, 1, 2));
  completedBatch('batch_many', 'file-out-many', (res) => {
    res.writeHead(200, { 'content-type': 'application/jsonl' });
    res.end(`${lines.join('\n')}\n`);
  });
  const before = sink.events.length;
  const b = await client.batches.retrieve('batch_many', viaModel);
  assert.equal(b.status, 'completed');
  await new Promise((r) => setTimeout(r, 1000));
  const events = sink.events.slice(before).filter((e) => e.inbound_protocol === 'batch');
  assert.ok(events.length > 0, 'the batch was attributed');
  assert.ok(events.length <= 101, `${events.length} usage events for one batch`);
  // Every token is still counted (cost comes from the Model, whatever the provider model).
  assert.equal(
    events.reduce((s, e) => s + e.prompt_tokens, 0),
    3000,
  );
  assert.equal(
    events.reduce((s, e) => s + e.completion_tokens, 0),
    6000,
  );
  assert.ok(events.some((e) => e.provider_model_version === 'model-0'));
});

test('batch attribution: an over-long line is skipped, the lines after it still count (§5.7)', async () => {
  use(false);
  completedBatch('batch_long', 'file-out-long', (res) => {
    res.writeHead(200, { 'content-type': 'application/jsonl' });
    res.write(`${usageLine('gpt-4o-mini-2024-07-18', 10, 5)}\n`);
    // 20 MiB without a newline: not a batch output line.
    const junk = Buffer.alloc(MiB, 'z');
    for (let i = 0; i < 20; i++) res.write(junk);
    res.end(`\n${usageLine('gpt-4o-mini-2024-07-18', 7, 3)}\n`);
  });
  const before = sink.events.length;
  await client.batches.retrieve('batch_long', viaModel);
  const deadline = Date.now() + 15_000;
  let events = sink.events.slice(before).filter((e) => e.inbound_protocol === 'batch');
  while (events.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    events = sink.events.slice(before).filter((e) => e.inbound_protocol === 'batch');
  }
  assert.equal(events.length, 1);
  assert.equal(events[0]?.prompt_tokens, 17);
  assert.equal(events[0]?.completion_tokens, 8);
});
