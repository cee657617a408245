/** Batch usage attribution: the per-model sums of an output file and the idempotent event ids. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Usage } from '@aisix/providers';
import { addLine, LineReader, MAX_MODELS, uuidV5 } from './attribution.js';

test('uuidV5 matches the RFC 4122 algorithm (known vectors)', () => {
  const dns = Buffer.from('6ba7b8109dad11d180b400c04fd430c8', 'hex');
  assert.equal(uuidV5('www.example.com', dns), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
  // Default namespace: URL.
  assert.equal(uuidV5('http://www.example.com/'), uuidV5('http://www.example.com/'));
  assert.match(
    uuidV5('aisix:batch:b1'),
    /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
});

test('output lines are summed per response model; lines without tokens or not JSON are skipped', () => {
  const m = new Map<string, Usage>();
  const line = (model: string, p: number, c: number, cached?: number) =>
    JSON.stringify({
      response: {
        body: {
          model,
          usage: {
            prompt_tokens: p,
            completion_tokens: c,
            ...(cached !== undefined ? { prompt_tokens_details: { cached_tokens: cached } } : {}),
          },
        },
      },
    });
  for (const l of [
    line('a', 10, 5, 3),
    line('a', 1, 1),
    line('b', 7, 0),
    line('c', 0, 0),
    '',
    'not json',
    '{"response":{"body":{"model":"d"}}}',
    '{"error":{"message":"x"}}',
  ])
    addLine(m, l);
  assert.deepEqual([...m.keys()], ['a', 'b']);
  const a = m.get('a');
  assert.equal(a?.prompt_tokens, 11);
  assert.equal(a?.completion_tokens, 6);
  assert.equal(a?.total_tokens, 17);
  assert.equal(a?.cached_prompt_tokens, 3);
  assert.equal(m.get('b')?.prompt_tokens, 7);
});

test('output lines are cut at newlines across chunks (UTF-8 split anywhere); an over-long line is skipped', () => {
  const got: string[] = [];
  const r = new LineReader((l) => got.push(l), 8);
  const bytes = Buffer.from('ab\né€\n0123456789\nxy\n\nlast');
  // One byte at a time: every multi-byte character is split across chunks.
  for (let i = 0; i < bytes.length; i++) r.push(bytes.subarray(i, i + 1));
  r.end();
  assert.deepEqual(got, ['ab', 'é€', 'xy', '', 'last']);
  const whole: string[] = [];
  const w = new LineReader((l) => whole.push(l), 8);
  w.push(bytes);
  w.end();
  assert.deepEqual(whole, got);
});

test('models past the per-batch bound are summed under no model; every token still counts', () => {
  const m = new Map<string, Usage>();
  const n = MAX_MODELS + 50;
  for (let i = 0; i < n; i++)
    addLine(
      m,
      JSON.stringify({
        response: { body: { model: `m${i}`, usage: { prompt_tokens: 2, completion_tokens: 1 } } },
      }),
    );
  assert.equal(m.size, MAX_MODELS + 1);
  assert.equal(m.get('m0')?.prompt_tokens, 2);
  assert.equal(m.get('')?.prompt_tokens, 100);
  let total = 0;
  for (const u of m.values()) total += u.total_tokens;
  assert.equal(total, 3 * n);
});
