/** The restart schedule of a cluster slot whose worker keeps exiting (cluster.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { restartDelayMs } from './cluster.js';

test('a worker that dies soon after its start is retried with a doubling delay, capped at a minute', () => {
  const delays: number[] = [];
  let last = 0;
  for (let i = 0; i < 9; i++) {
    last = restartDelayMs(last, 1500);
    delays.push(last);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
});

test('a worker that had been serving for 30 s or more is replaced after the base delay again', () => {
  assert.equal(restartDelayMs(60_000, 30_000), 1000);
  assert.equal(restartDelayMs(8000, 3_600_000), 1000);
  assert.equal(restartDelayMs(8000, 29_999), 16_000);
});
