import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LayeredMap } from './layered.js';

/** Deterministic PRNG so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

test('LayeredMap behaves like a Map across many versions, and old versions never change', () => {
  const rand = rng(42);
  let model = new Map<string, number>();
  let lm = LayeredMap.adopt(new Map<string, number>());
  const history: { lm: LayeredMap<string, number>; model: Map<string, number> }[] = [];
  for (let step = 0; step < 3000; step++) {
    const changes = new Map<string, number | undefined>();
    const n = 1 + Math.floor(rand() * (step % 97 === 0 ? 400 : 4));
    for (let i = 0; i < n; i++) {
      const k = `k${Math.floor(rand() * 1500)}`;
      changes.set(k, rand() < 0.3 ? undefined : step);
    }
    lm = lm.with(changes);
    model = new Map(model);
    for (const [k, v] of changes) {
      if (v === undefined) model.delete(k);
      else model.set(k, v);
    }
    if (step % 50 === 0) history.push({ lm, model });
  }
  history.push({ lm, model });
  for (const h of history) {
    assert.equal(h.lm.size, h.model.size);
    assert.deepEqual(new Map(h.lm), h.model);
    for (const [k, v] of h.model) assert.equal(h.lm.get(k), v);
    assert.equal(h.lm.get('absent'), undefined);
    assert.equal(h.lm.has('absent'), false);
    assert.deepEqual([...h.lm.keys()].sort(), [...h.model.keys()].sort());
  }
});

test('LayeredMap keeps Map ordering: updates stay in place, new keys go last', () => {
  const base = LayeredMap.adopt(
    new Map([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]),
  );
  const next = base.with(
    new Map<string, number | undefined>([
      ['b', 20],
      ['d', 4],
      ['a', undefined],
    ]),
  );
  assert.deepEqual(
    [...next],
    [
      ['b', 20],
      ['c', 3],
      ['d', 4],
    ],
  );
  assert.deepEqual(
    [...base],
    [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ],
  );
  const seen: string[] = [];
  next.forEach((v, k) => {
    seen.push(`${k}=${v}`);
  });
  assert.deepEqual(seen, ['b=20', 'c=3', 'd=4']);
  assert.ok(Object.isFrozen(next));
  assert.equal((next as unknown as { set?: unknown }).set, undefined, 'no mutators at all');
});
