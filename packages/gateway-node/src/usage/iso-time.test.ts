import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lcg } from '../test/random.js';
import { IsoClock } from './iso-time.js';

test('IsoClock renders and reads back exactly what Date does, whatever it remembers', () => {
  const c = new IsoClock();
  const times = [
    0, 1.9, 999.99, 1000, 1700000000123.75, 1700000000123.2, 1700000000124, 1700000000999, 1700000001000,
  ];
  const edges = [-5.5, -1000.5, 253402300799999, 253402300800000, 8.64e15];
  for (const ms of [...times, ...edges, ...times.reverse()]) {
    const iso = c.at(ms);
    assert.equal(iso, new Date(ms).toISOString());
    assert.equal(c.parse(iso), Date.parse(iso));
    // A string it did not make (another clock's, an older one) is parsed.
    assert.equal(c.parse('2026-12-06T22:00:00.000Z'), Date.parse('2026-12-06T22:00:00.000Z'));
  }
});

test('IsoClock: a seeded walk through nearby and distant times agrees with Date', () => {
  const c = new IsoClock();
  const next = lcg(7);
  const rnd = () => next() / 2147483648;
  let t = 1765000000000;
  for (let i = 0; i < 50_000; i++) {
    const r = rnd();
    // Mostly the same or the next few milliseconds, sometimes a jump (either way), with fractions.
    t = r < 0.8 ? t + rnd() * 3 : r < 0.95 ? t + (rnd() - 0.5) * 4000 : rnd() * 4.1e12;
    const iso = c.at(t);
    assert.equal(iso, new Date(t).toISOString());
    assert.equal(c.parse(iso), Date.parse(iso));
  }
});

test('IsoClock.parse: strings close to the one it made, or malformed, are read as Date reads them', () => {
  const c = new IsoClock();
  const iso = c.at(Date.UTC(2026, 11, 7, 2, 18, 9, 5));
  assert.equal(iso, '2026-12-07T02:18:09.005Z');
  for (const s of [
    '2026-12-07T02:18:09.999Z',
    '2026-12-07T02:18:09.000Z',
    '2026-12-07T02:18:09.5Z',
    '2026-12-07T02:18:09.12aZ',
    '2026-12-07T02:18:09.123+',
    '2026-12-07T02:18:09.1234Z',
    '2026-12-07T02:18:09.:00Z',
    '2026-12-07T02:18:09.',
    '',
  ]) {
    const want = Date.parse(s);
    const got = c.parse(s);
    assert.ok(Object.is(got, want), `${s}: ${got} !== ${want}`);
  }
});

test('IsoClock: a time just before the epoch reads back as Date reads it (0, not -0)', () => {
  const c = new IsoClock();
  const iso = c.at(-0.5);
  assert.equal(iso, new Date(-0.5).toISOString());
  assert.ok(Object.is(c.parse(iso), Date.parse(iso)));
});
