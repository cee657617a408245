/**
 * MemoryCacheStore specifics (the shared contract runs in contract/stores.test.ts): both bounds
 * under a flood of distinct keys, LRU order, the expiry sweep, counters.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryCacheStore } from './memory-store.js';
import type { CacheEntry } from './types.js';

const entry = (body: string): CacheEntry => ({
  kind: 'json',
  status: 200,
  contentType: 'application/json',
  body,
  usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
  storedAt: 0,
});

describe('MemoryCacheStore bounds', () => {
  it('stays within entry and byte bounds under 100 000 distinct keys', async () => {
    const store = new MemoryCacheStore();
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const body = `{"id":"chatcmpl","choices":[{"message":{"content":"${'x'.repeat(900)}"}}]}`;
    for (let i = 0; i < 100_000; i++) {
      // Distinct, flat body strings (a `body + i` cons string would share `body` between
      // entries and hide the real footprint), like bodies decoded from the network.
      const flat = Buffer.from(body + i, 'latin1').toString('latin1');
      store.setSync(`key-${i}-`.padEnd(64, 'x'), entry(flat), 3600);
      if (i % 10_000 === 0) {
        const s = store.stats();
        assert.ok(s.entries <= 10_000 && s.bytes <= 64 * 1024 * 1024);
      }
    }
    const s = store.stats();
    assert.equal(s.entries, 10_000);
    assert.ok(s.bytes <= 64 * 1024 * 1024, `bytes ${s.bytes}`);
    assert.equal(s.evicted, 90_000);
    assert.equal(store.getSync('key-0-'.padEnd(64, 'x')), undefined);
    assert.ok(store.getSync('key-99999-'.padEnd(64, 'x')));
    if (gc !== undefined) {
      gc();
      const grown = process.memoryUsage().heapUsed - heapBefore;
      // 10 000 entries of ~1 KB (Latin-1 strings: 1 byte per char) plus overhead.
      assert.ok(grown < 40 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MiB`);
    }
  });

  it('evicts by bytes before count when entries are large', () => {
    const store = new MemoryCacheStore({ maxEntries: 1000, maxBytes: 100_000 });
    for (let i = 0; i < 100; i++) store.setSync(`k${i}`, entry('y'.repeat(10_000)), 60);
    const s = store.stats();
    assert.ok(s.bytes <= 100_000, `bytes ${s.bytes}`);
    assert.equal(s.entries, 4); // each weighs 2 * 10 000 + key + overhead ≈ 20 300
    assert.ok(store.getSync('k99'));
  });

  it('keeps recently read entries (LRU, not FIFO)', () => {
    const store = new MemoryCacheStore({ maxEntries: 3 });
    store.setSync('a', entry('a'), 60);
    store.setSync('b', entry('b'), 60);
    store.setSync('c', entry('c'), 60);
    assert.ok(store.getSync('a'));
    store.setSync('d', entry('d'), 60);
    assert.equal(store.getSync('b'), undefined);
    assert.ok(store.getSync('a'));
    assert.ok(store.getSync('c'));
    assert.ok(store.getSync('d'));
  });

  it('a key stored again takes the new answer, TTL and weight, and becomes most recently used', () => {
    let now = 0;
    const store = new MemoryCacheStore({ maxEntries: 3, now: () => now });
    store.setSync('a', entry('a'), 60);
    store.setSync('b', entry('b'), 60);
    store.setSync('c', entry('c'), 60);
    const bytes = store.stats().bytes;
    now = 30_000;
    store.setSync('a', entry('a-longer'), 10); // 'a' was the LRU end; now 'b' is
    assert.equal(store.size, 3);
    assert.equal(store.stats().bytes, bytes + 2 * ('a-longer'.length - 1));
    store.setSync('d', entry('d'), 60);
    assert.equal(store.getSync('b'), undefined, 'b was least recently used');
    const a = store.getSync('a');
    assert.equal(a?.entry.body, 'a-longer');
    assert.equal(a?.ttlLeftSecs, 10);
    now = 41_000;
    assert.equal(store.getSync('a'), undefined, 'the new TTL applies');
    assert.ok(store.getSync('c'));
  });

  it('sweeps expired entries on writes and keeps the byte count exact', () => {
    let now = 0;
    const store = new MemoryCacheStore({ now: () => now });
    for (let i = 0; i < 8; i++) store.setSync(`old${i}`, entry('z'), 1);
    now = 2000;
    store.setSync('fresh1', entry('f'), 60);
    store.setSync('fresh2', entry('f'), 60);
    assert.equal(store.stats().expired, 8, 'two writes inspect up to 8 LRU-end entries');
    assert.equal(store.size, 2);
    store.setSync('fresh1', entry('g'), 60);
    store.getSync('fresh2');
    void store.delete('fresh2');
    store.setSync('big', entry('q'.repeat(2 * 1024 * 1024)), 60);
    const s = store.stats();
    assert.equal(s.entries, 1);
    assert.equal(s.rejected, 1);
    // Only fresh1 (body 'g') is left: (key + body + content type) * 2 + the fixed overhead.
    assert.equal(s.bytes, ('fresh1'.length + 'g'.length + 'application/json'.length) * 2 + 256);
  });

  it('counts hits and misses', () => {
    const store = new MemoryCacheStore();
    store.setSync('k', entry('v'), 60);
    store.getSync('k');
    store.getSync('nope');
    const s = store.stats();
    assert.equal(s.hits, 1);
    assert.equal(s.misses, 1);
  });
});
