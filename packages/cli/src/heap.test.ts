import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HEAP_GROWING_PERCENT, heapPlan } from './heap.js';

const growing = `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;

test('old-generation growing percent, boot-time young-generation growth and no pretenuring, unless the operator chose them', () => {
  assert.deepEqual(heapPlan([], undefined), {
    atBoot: [growing, '--semi-space-growth-factor=1', '--no-allocation-site-pretenuring'],
    whenServing: ['--semi-space-growth-factor=2'],
    launch: ['--max-semi-space-size=8'],
  });
  assert.deepEqual(heapPlan(['--enable-source-maps'], '--max-old-space-size=512'), heapPlan([], undefined));
  assert.deepEqual(heapPlan(['--heap-growing-percent=50', '--max-semi-space-size=16'], undefined), {
    atBoot: ['--semi-space-growth-factor=1', '--no-allocation-site-pretenuring'],
    whenServing: ['--semi-space-growth-factor=2'],
    launch: [],
  });
  assert.deepEqual(
    heapPlan(
      ['--allocation-site-pretenuring'],
      '--max-old-space-size=512 --heap_growing_percent=10 --semi-space-growth-factor=4',
    ),
    {
      atBoot: [],
      whenServing: [],
      launch: ['--max-semi-space-size=8'],
    },
  );
  assert.deepEqual(heapPlan(['--no-allocation-site-pretenuring'], undefined).atBoot, [
    growing,
    '--semi-space-growth-factor=1',
  ]);
  // A different flag that merely starts alike is not the operator's choice.
  assert.deepEqual(heapPlan(['--heap-growing-percentage-x'], undefined), heapPlan([], undefined));
});
