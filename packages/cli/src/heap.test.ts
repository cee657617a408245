import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HEAP_GROWING_PERCENT, heapFlags } from './heap.js';

test('sets the heap growing percent unless the operator chose one', () => {
  const ours = [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`];
  assert.deepEqual(heapFlags([], undefined), ours);
  assert.deepEqual(heapFlags(['--enable-source-maps'], '--max-old-space-size=512'), ours);
  assert.deepEqual(heapFlags(['--heap-growing-percent=50'], undefined), []);
  assert.deepEqual(heapFlags([], '--max-old-space-size=512 --heap_growing_percent=10'), []);
  // A different flag that merely starts alike is not the operator's choice.
  assert.deepEqual(heapFlags(['--heap-growing-percentage-x'], undefined), ours);
});
