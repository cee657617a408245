import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeferredBatch } from './deferred-batch.js';

test('items wait until max are waiting, then go together, in order', () => {
  const got: number[][] = [];
  const b = new DeferredBatch<number>(3, 60_000, (items) => got.push([...items]));
  b.push(1);
  b.push(2);
  assert.deepEqual(got, []);
  assert.equal(b.size, 2);
  b.push(3);
  assert.deepEqual(got, [[1, 2, 3]]);
  assert.equal(b.size, 0);
  b.push(4);
  b.flush();
  b.flush();
  assert.deepEqual(got, [[1, 2, 3], [4]]);
});

test('fewer than max go after the delay from the first of them', async () => {
  const got: number[][] = [];
  const b = new DeferredBatch<number>(100, 30, (items) => got.push([...items]));
  b.push(1);
  await sleep(10);
  b.push(2);
  assert.deepEqual(got, []);
  await sleep(60);
  assert.deepEqual(got, [[1, 2]]);
  // A flush in between leaves no timer behind to hand over an empty batch.
  b.push(3);
  b.flush();
  await sleep(60);
  assert.deepEqual(got, [[1, 2], [3]]);
});

test('a handler that pushes again starts the next batch', () => {
  const got: number[][] = [];
  const b: DeferredBatch<number> = new DeferredBatch<number>(2, 60_000, (items) => {
    got.push([...items]);
    if (items[0] === 1) b.push(9);
  });
  b.push(1);
  b.push(2);
  assert.deepEqual(got, [[1, 2]]);
  assert.equal(b.size, 1);
  b.flush();
  assert.deepEqual(got, [[1, 2], [9]]);
});
