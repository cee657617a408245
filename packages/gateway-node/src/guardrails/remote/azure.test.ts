import assert from 'node:assert/strict';
import { test } from 'node:test';
import { windows } from './azure.js';

test('windows: each window overlaps the previous by the configured overlap, within the size', () => {
  const text = 'abcdefghijklmnopqrstuvwxyz';
  assert.deepEqual(windows(text, 10, 2), ['abcdefghij', 'ijklmnopqr', 'qrstuvwxyz']);
  assert.deepEqual(windows('short', 10, 2), ['short']);
});

test('windows: an overlap at or above the size is capped at half a window (no one-character steps)', () => {
  const text = 'x'.repeat(1008);
  // The contract's default overlap (256) with a small window: 909 vendor calls before the cap.
  const w = windows(text, 100, 256);
  assert.equal(w.length, 20);
  assert.ok(w.every((x) => x.length <= 100));
  // Every character is in some window: consecutive windows still overlap.
  assert.equal(windows('0123456789abcdefghij', 10, 10).join('|'), '0123456789|56789abcde|abcdefghij');
});
