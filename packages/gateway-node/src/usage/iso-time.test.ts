import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IsoClock } from './iso-time.js';

test('IsoClock renders and reads back exactly what Date does, whatever it remembers', () => {
  const c = new IsoClock();
  const times = [0, 1.9, 1700000000123.75, 1700000000123.2, 1700000000124, -5.5, 8.64e15];
  for (const ms of [...times, ...times.reverse()]) {
    const iso = c.at(ms);
    assert.equal(iso, new Date(ms).toISOString());
    assert.equal(c.parse(iso), Date.parse(iso));
    // A string it did not make (another clock's, an older one) is parsed.
    assert.equal(c.parse('2026-12-06T22:00:00.000Z'), Date.parse('2026-12-06T22:00:00.000Z'));
  }
});
