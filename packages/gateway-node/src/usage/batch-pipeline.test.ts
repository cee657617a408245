/**
 * An exporter pipeline: batches by size and by time, retries a failed batch with backoff, gives
 * up after the retries (counted as failed), and with a destination that never answers keeps at
 * most its queue: further items are dropped (counted) and `push` never waits.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchPipeline, type SendResult } from './batch-pipeline.js';

test('batches by size and by time; a retried batch is delivered once', async () => {
  const batches: number[][] = [];
  let fail = 1;
  const p = new BatchPipeline<number>({
    maxBatch: 3,
    flushIntervalMs: 30,
    backoffMs: 5,
    send: async (b) => {
      if (fail-- > 0) return 'retry';
      batches.push(b);
      return 'ok';
    },
  });
  for (let i = 0; i < 4; i++) assert.equal(p.push(i), true);
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(batches, [[0, 1, 2], [3]]);
  assert.deepEqual(
    { ...p.stats(), sends: undefined },
    { queued: 0, delivered: 4, dropped: 0, failed: 0, sends: undefined },
  );
  assert.equal(p.stats().sends, 3);
});

test('gives up after the retries; a refused batch is not retried', async () => {
  const results: SendResult[] = ['drop'];
  let sends = 0;
  const p = new BatchPipeline<number>({
    maxBatch: 1,
    maxRetries: 2,
    backoffMs: 1,
    send: async () => {
      sends++;
      return results.shift() ?? 'retry';
    },
  });
  p.push(1); // refused: one send
  p.push(2); // 1 + 2 retries
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(sends, 4);
  assert.equal(p.stats().failed, 2);
});

test('a destination that never answers: bounded queue, drops counted, push never waits', async () => {
  const p = new BatchPipeline<number>({
    maxQueue: 10,
    maxBatch: 5,
    send: () => new Promise<SendResult>(() => {}),
  });
  const t0 = performance.now();
  let accepted = 0;
  for (let i = 0; i < 1000; i++) if (p.push(i)) accepted++;
  assert.ok(performance.now() - t0 < 50);
  // 5 in flight, 10 queued behind them.
  assert.equal(accepted, 15);
  assert.equal(p.stats().dropped, 985);
  const s = await p.close(50);
  assert.equal(s.failed, 10);
  assert.equal(p.push(1), false);
});

test('a split batch: each part retried on its own (an accepted part is not sent again), a refused part loses only its items', async () => {
  const sent: number[][] = [];
  const answers: SendResult[] = ['ok', 'retry', 'ok', 'drop'];
  const lost: number[] = [];
  const p = new BatchPipeline<number>({
    maxBatch: 10,
    flushIntervalMs: 5,
    backoffMs: 1,
    // Parts of at most 2 items.
    split: (b) => {
      const parts: number[][] = [];
      for (let i = 0; i < b.length; i += 2) parts.push(b.slice(i, i + 2));
      return parts;
    },
    send: async (b) => {
      sent.push(b);
      return answers.shift() ?? 'ok';
    },
    onFailed: (n) => lost.push(n),
  });
  for (let i = 0; i < 5; i++) p.push(i);
  await new Promise((r) => setTimeout(r, 100));
  // [0,1] accepted; [2,3] answered retry then accepted; [4] refused.
  assert.deepEqual(sent, [[0, 1], [2, 3], [2, 3], [4]]);
  assert.deepEqual(
    { ...p.stats(), sends: undefined },
    { queued: 0, delivered: 4, dropped: 0, failed: 1, sends: undefined },
  );
  assert.deepEqual(lost, [1]);
});
