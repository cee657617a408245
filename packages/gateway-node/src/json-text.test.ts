/** The hand-rendered JSON pieces equal what JSON.stringify writes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonNumber, jsonQuote } from './json-text.js';
import { lcg } from './test/random.js';

test('jsonNumber writes what JSON.stringify writes: millisecond latencies, counts, edge values', () => {
  const values = [0, -0, 1, 0.001, 0.01, 0.1, 0.5, 0.125, 1.5, 999.999, 1000, 2147483.647, 2147483.648];
  values.push(1e-7, 12.34567, -3.5, -0.001, 1e21, 2 ** 53, Number.MAX_VALUE, Number.MIN_VALUE);
  const next = lcg(5);
  for (let i = 0; i < 50_000; i++) {
    const seed = next();
    values.push(Math.round(seed / 7) / 1e3, seed / 1e3, seed / 997, seed);
  }
  for (const v of values) assert.equal(jsonNumber(v), JSON.stringify(v), String(v));
  for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
    assert.equal(jsonNumber(v), 'null');
});

test('jsonQuote writes what JSON.stringify writes for any string', () => {
  for (const s of ['', 'plain', 'q"b\\', '\u0000\u001f\u007f', 'é日😀', '\ud800', 'a\udc00b', '\u2028\u2029'])
    assert.equal(jsonQuote(s), JSON.stringify(s));
});
