/** The OTLP/HTTP JSON exporter against a real local mock collector: batching, retries, refusals. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type MockCollector, startMockCollector } from '../test/mock-collector.js';
import { OtlpHttpExporter, tracesUrl } from './exporter.js';
import type { OtlpSpan } from './otlp.js';

let col: MockCollector;
before(async () => {
  col = await startMockCollector();
});
after(() => col.close());

const span = (i: number): OtlpSpan => ({
  traceId: 'a'.repeat(32),
  spanId: i.toString(16).padStart(16, '0'),
  name: `s${i}`,
  kind: 1,
  startTimeUnixNano: '1',
  endTimeUnixNano: '2',
  attributes: [],
  status: { code: 1 },
});

/** An exporter to the mock collector that flushes at once and backs off 10 ms between tries. */
const quick = (extra: Partial<ConstructorParameters<typeof OtlpHttpExporter>[0]> = {}) =>
  new OtlpHttpExporter({
    endpoint: col.url,
    serviceName: 's',
    version: 'v',
    backoffMs: 10,
    flushIntervalMs: 10,
    ...extra,
  });

test('tracesUrl: /v1/traces appended only when the endpoint has no path', () => {
  assert.equal(tracesUrl('http://c:4318'), 'http://c:4318/v1/traces');
  assert.equal(tracesUrl('http://c:4318/'), 'http://c:4318/v1/traces');
  assert.equal(tracesUrl('https://c/otlp/v1/traces'), 'https://c/otlp/v1/traces');
});

test('batches by size: 5 spans with maxBatch 2 go out as 2+2+1', async () => {
  col.reset();
  const e = new OtlpHttpExporter({
    endpoint: col.url,
    serviceName: 's',
    version: 'v',
    maxBatch: 2,
    flushIntervalMs: 10,
  });
  for (let i = 1; i <= 5; i++) e.export(span(i));
  await e.flush();
  assert.deepEqual(
    col.posts.map((p) => p.body?.resourceSpans[0]?.scopeSpans[0]?.spans.length),
    [2, 2, 1],
  );
  assert.equal((await e.shutdown()).exported, 5);
});

test('retries 503 and 429 with backoff, then succeeds', async () => {
  col.reset();
  col.respond(503, 429, 200);
  const e = quick();
  e.export(span(1));
  await e.flush();
  const s = await e.shutdown();
  assert.equal(s.posts, 3);
  assert.equal(s.exported, 1);
  assert.equal(s.failed, 0);
});

test('a 400 is not retried; the batch counts as failed', async () => {
  col.reset();
  col.respond(400);
  const e = new OtlpHttpExporter({
    endpoint: `${col.url}/custom/path`,
    serviceName: 's',
    version: 'v',
    flushIntervalMs: 10,
  });
  e.export(span(1));
  e.export(span(2));
  await e.flush();
  const s = await e.shutdown();
  assert.equal(col.posts[0]?.url, '/custom/path');
  assert.equal(s.posts, 1);
  assert.equal(s.failed, 2);
  col.respond(200);
});

test('OTLP retry rule: 500, 501 and 505 are final (one POST each); 502 and 504 are retried', async () => {
  for (const status of [500, 501, 505]) {
    col.reset();
    col.respond(status, 200);
    const e = quick();
    e.export(span(1));
    await e.flush();
    const s = await e.shutdown();
    assert.equal(s.posts, 1, `${status} must not be retried`);
    assert.equal(s.failed, 1);
    assert.equal(s.exported, 0);
  }
  col.reset();
  col.respond(502, 504, 200);
  const e = quick();
  e.export(span(1));
  await e.flush();
  const s = await e.shutdown();
  assert.equal(s.posts, 3);
  assert.equal(s.exported, 1);
  col.respond(200);
});

test("a retryable answer's Retry-After is waited instead of the backoff", async () => {
  col.reset();
  const times: number[] = [];
  col.respond({ status: 503, headers: { 'retry-after': '1' } }, 200);
  const e = quick();
  e.export(span(1));
  const t0 = Date.now();
  await e.flush();
  times.push(Date.now() - t0);
  const s = await e.shutdown();
  assert.equal(s.posts, 2);
  assert.equal(s.exported, 1);
  assert.ok((times[0] as number) >= 950, `retried after ${times[0]} ms, Retry-After asked 1000`);
});

test('spans of any size and script are delivered whole and in order, batch bodies stay valid JSON', async () => {
  col.reset();
  const e = new OtlpHttpExporter({
    endpoint: col.url,
    serviceName: 's',
    version: 'v',
    maxBatch: 50,
    maxQueue: 10_000,
    flushIntervalMs: 10,
  });
  // Multi-byte names (2, 3 and 4 UTF-8 bytes per character) and spans from a few bytes to 2 MB,
  // past any batch's room: each crosses batch boundaries at a different point.
  const names: string[] = [];
  for (let i = 0; i < 300; i++) {
    const big = i % 97 === 5 ? 'x'.repeat(2 * 1024 * 1024) : '';
    const name = `${'é日😀'.repeat(i % 7)}${'n'.repeat((i * 37) % 3000)}${big}#${i}`;
    names.push(name);
    e.export({ ...span(i + 1), name });
  }
  await e.flush();
  const got = col.posts.flatMap((p) => p.body?.resourceSpans[0]?.scopeSpans[0]?.spans ?? []);
  assert.equal(got.length, 300);
  assert.deepEqual(
    got.map((s) => s.name),
    names,
  );
  assert.ok(col.posts.every((p) => (p.body?.resourceSpans[0]?.scopeSpans[0]?.spans.length ?? 0) <= 50));
  assert.deepEqual(await e.shutdown(), {
    queued: 0,
    exported: 300,
    dropped: 0,
    failed: 0,
    posts: col.posts.length,
  });
});

test('admit: room is taken for spans handed over later; a group that does not fit is dropped whole', async () => {
  col.reset();
  const e = new OtlpHttpExporter({ endpoint: col.url, serviceName: 's', version: 'v', maxQueue: 5 });
  assert.equal(e.admit(2), true);
  assert.equal(e.admit(2), true);
  // 4 of 5 taken by spans not yet handed over: a group of 2 does not fit, a single span does.
  assert.equal(e.admit(2), false);
  assert.deepEqual({ queued: e.stats().queued, dropped: e.stats().dropped }, { queued: 4, dropped: 2 });
  assert.equal(e.admit(1), true);
  for (let i = 1; i <= 5; i++) e.exportAdmitted(JSON.stringify(span(i)));
  assert.deepEqual({ queued: e.stats().queued, dropped: e.stats().dropped }, { queued: 5, dropped: 2 });
  await e.flush();
  assert.equal(e.stats().exported, 5);
  assert.deepEqual(
    col.posts.flatMap((p) => p.body?.resourceSpans[0]?.scopeSpans[0]?.spans.map((s) => s.name) ?? []),
    ['s1', 's2', 's3', 's4', 's5'],
  );
  // Admitted before the shutdown, handed over after it: counted as dropped, never sent.
  assert.equal(e.admit(1), true);
  await e.shutdown();
  e.exportAdmitted(JSON.stringify(span(6)));
  assert.equal(e.admit(1), false);
  assert.deepEqual({ queued: e.stats().queued, dropped: e.stats().dropped }, { queued: 0, dropped: 4 });
  assert.equal(col.posts.length, 1);
});

test('forfeit: room taken for spans that are never handed over comes back, counted as dropped', async () => {
  const e = new OtlpHttpExporter({ endpoint: col.url, serviceName: 's', version: 'v', maxQueue: 3 });
  assert.equal(e.admit(3), true);
  assert.equal(e.admit(1), false);
  e.forfeit(3);
  assert.deepEqual({ queued: e.stats().queued, dropped: e.stats().dropped }, { queued: 0, dropped: 4 });
  assert.equal(e.admit(3), true);
  await e.shutdown();
});
