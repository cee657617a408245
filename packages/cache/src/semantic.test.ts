/**
 * The semantic index: threshold, partition and policy isolation, dimension mismatch, the LRU
 * bound per policy, expiry; plus a scan-time sanity check at the 10 000-vector bound.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SemanticIndex } from './semantic.js';

const v = (...xs: number[]) => Float32Array.from(xs);
const FAR = 1e15;

/** A unit vector at `deg` degrees in the plane (cosine with v(1,0) = cos(deg)). */
const angle = (deg: number) => v(Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180));

describe('SemanticIndex', () => {
  it('returns the best neighbour at or above the threshold', () => {
    const idx = new SemanticIndex();
    idx.add('p', 's', angle(0), 'k0', FAR);
    idx.add('p', 's', angle(30), 'k30', FAR);
    idx.add('p', 's', angle(90), 'k90', FAR);
    const hit = idx.nearest('p', 's', angle(20), 0.9, 0);
    assert.equal(hit?.exactKey, 'k30');
    assert.ok(Math.abs(hit.similarity - Math.cos((10 * Math.PI) / 180)) < 1e-6);
    // cos(10°) = 0.985: a stricter threshold misses.
    assert.equal(idx.nearest('p', 's', angle(20), 0.99, 0), undefined);
  });

  it('is scale invariant (vectors normalised at insert) and matches itself at threshold 1', () => {
    const idx = new SemanticIndex();
    const raw = v(0.1, 0.7, -0.3, 0.2, 0.9);
    idx.add('p', 's', raw, 'k', FAR);
    const scaled = raw.map((x) => x * 40);
    const hit = idx.nearest('p', 's', scaled, 1, 0);
    assert.equal(hit?.exactKey, 'k');
    assert.ok(hit.similarity <= 1);
  });

  it('does not mutate the caller vector and ignores zero vectors', () => {
    const idx = new SemanticIndex();
    const raw = v(3, 4);
    idx.add('p', 's', raw, 'k', FAR);
    assert.deepEqual([...raw], [3, 4]);
    idx.add('p', 's', v(0, 0), 'zero', FAR);
    assert.equal(idx.size('p'), 1);
    assert.equal(idx.nearest('p', 's', v(0, 0), 0, 0), undefined);
  });

  it('isolates partitions and policies', () => {
    const idx = new SemanticIndex();
    idx.add('p', 'a', angle(0), 'ka', FAR);
    idx.add('q', 'b', angle(0), 'kq', FAR);
    assert.equal(idx.nearest('p', 'b', angle(0), 0.5, 0), undefined);
    assert.equal(idx.nearest('q', 'a', angle(0), 0.5, 0), undefined);
    assert.equal(idx.nearest('p', 'a', angle(0), 0.5, 0)?.exactKey, 'ka');
    assert.equal(idx.nearest('q', 'b', angle(0), 0.5, 0)?.exactKey, 'kq');
  });

  it('never compares vectors of another dimension', () => {
    const idx = new SemanticIndex();
    idx.add('p', 's', v(1, 0, 0), 'three', FAR);
    assert.equal(idx.nearest('p', 's', v(1, 0), 0, 0), undefined);
    assert.equal(idx.nearest('p', 's', v(1, 0, 0, 0), 0, 0), undefined);
    idx.add('p', 's', v(1, 0), 'two', FAR);
    assert.equal(idx.nearest('p', 's', v(1, 0), 0.9, 0)?.exactKey, 'two');
    assert.equal(idx.nearest('p', 's', v(1, 0, 0), 0.9, 0)?.exactKey, 'three');
  });

  it('ignores and drops expired vectors', () => {
    const idx = new SemanticIndex();
    idx.add('p', 's', angle(0), 'old', 1000);
    idx.add('p', 's', angle(20), 'live', 5000);
    assert.equal(idx.nearest('p', 's', angle(0), 0.5, 999)?.exactKey, 'old');
    assert.equal(idx.nearest('p', 's', angle(0), 0.5, 1000)?.exactKey, 'live');
    assert.equal(idx.size('p'), 1);
    assert.equal(idx.nearest('p', 's', angle(0), 0.5, 5000), undefined);
    assert.equal(idx.size(), 0);
  });

  it('bounds each policy to maxEntries, evicting the least recently used', () => {
    const idx = new SemanticIndex();
    for (let i = 0; i < 3; i++) idx.add('p', `s${i}`, angle(0), `k${i}`, FAR, 3);
    // A hit on k0 makes k1 the oldest.
    assert.equal(idx.nearest('p', 's0', angle(0), 0.5, 0)?.exactKey, 'k0');
    idx.add('p', 's3', angle(0), 'k3', FAR, 3);
    assert.equal(idx.size('p'), 3);
    assert.equal(idx.nearest('p', 's1', angle(0), 0.5, 0), undefined);
    assert.equal(idx.nearest('p', 's0', angle(0), 0.5, 0)?.exactKey, 'k0');
    // Other policies have their own bound.
    for (let i = 0; i < 5; i++) idx.add('q', 's', angle(i), `q${i}`, FAR, 10);
    assert.equal(idx.size('q'), 5);
    assert.equal(idx.size('p'), 3);
    for (let i = 0; i < 2000; i++) idx.add('p', 's', angle(i % 360), `m${i}`, FAR, 3);
    assert.equal(idx.size('p'), 3);
  });

  it('replaces the vector of an exact key re-added', () => {
    const idx = new SemanticIndex();
    idx.add('p', 's', angle(0), 'k', FAR);
    idx.add('p', 's', angle(90), 'k', FAR);
    assert.equal(idx.size('p'), 1);
    assert.equal(idx.nearest('p', 's', angle(0), 0.5, 0), undefined);
    assert.equal(idx.nearest('p', 's', angle(90), 0.5, 0)?.exactKey, 'k');
  });

  it('deletes vectors and forgets removed policies', () => {
    const idx = new SemanticIndex();
    idx.add('p', 's', angle(0), 'k', FAR);
    idx.add('q', 's', angle(0), 'k', FAR);
    idx.delete('p', 's', 'k');
    assert.equal(idx.nearest('p', 's', angle(0), 0.5, 0), undefined);
    idx.retainPolicies(['p']);
    assert.equal(idx.size('q'), 0);
  });

  it('scans 10 000 vectors of 1536 dimensions quickly', () => {
    const idx = new SemanticIndex();
    const dim = 1536;
    let seed = 7;
    const rnd = () => {
      seed = (seed * 16_807) % 2_147_483_647;
      return seed / 2_147_483_647 - 0.5;
    };
    const target = new Float32Array(dim).map(rnd);
    for (let i = 0; i < 10_000; i++) idx.add('p', 's', new Float32Array(dim).map(rnd), `k${i}`, FAR, 10_000);
    idx.add('p', 's', target, 'target', FAR, 10_000);
    const start = performance.now();
    const runs = 5;
    for (let i = 0; i < runs; i++) assert.equal(idx.nearest('p', 's', target, 0.99, 0)?.exactKey, 'target');
    const ms = (performance.now() - start) / runs;
    // Typically ~10 ms; the bound only catches an accidental quadratic or boxed path.
    assert.ok(ms < 250, `nearest over 10k x 1536 took ${ms.toFixed(1)} ms`);
  });
});
