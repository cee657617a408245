/**
 * `@aisix/cache/contract`: the behaviour every `CacheStore` must show, as a node:test suite a
 * backend's test file runs against its own harness (memory with an injected clock, Redis on a
 * real server, later a Redis cluster). One suite, so the backends cannot drift apart.
 *
 * Time: a harness with `advance` moves its clock; without one the suite sleeps, so TTLs here
 * are 1-2 s (a Redis server's clock cannot be moved).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CacheEntry, CacheStore } from '../types.js';

export interface CacheStoreHarness {
  /**
   * A store on the shared backend in namespace `ns` (for Redis: the same server, another key
   * namespace). `maxEntryBytes` caps a body's UTF-8 size.
   */
  open(ns: string, opts?: { readonly maxEntryBytes?: number }): CacheStore | Promise<CacheStore>;
  /** Moves the stores' clock forward; undefined = real time (the suite sleeps). */
  readonly advance?: (ms: number) => void;
  close(): Promise<void>;
}

const SSE_BODY =
  'data: {"id":"c1","choices":[{"delta":{"content":"Grüße, 世界 👋"}}]}\n\n' +
  'data: {"id":"c1","choices":[{"delta":{"content":"line\\nbreak \\u2028 \\"q\\""}}]}\r\n\r\n' +
  ': comment\n\n' +
  'data: [DONE]\n\n';

const jsonEntry = (body = '{"id":"x","object":"chat.completion"}'): CacheEntry => ({
  kind: 'json',
  status: 200,
  contentType: 'application/json',
  body,
  usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
  storedAt: 1_700_000_000_123,
});

const sseEntry: CacheEntry = {
  kind: 'sse',
  status: 200,
  contentType: 'text/event-stream',
  body: SSE_BODY,
  storedAt: 1_700_000_000_456,
};

let seq = 0;
/** Distinct keys per test (the Redis backend persists across tests of one run). */
const freshKey = (label: string): string => `${label}-${process.pid}-${Date.now()}-${seq++}`;

export function cacheStoreContract(name: string, setup: () => Promise<CacheStoreHarness>): void {
  describe(`CacheStore contract: ${name}`, () => {
    let h: CacheStoreHarness;
    let store: CacheStore;
    const wait = async (ms: number): Promise<void> => {
      if (h.advance !== undefined) h.advance(ms);
      else await sleep(ms);
    };

    before(async () => {
      h = await setup();
      store = await h.open('contract');
    });
    after(async () => {
      await store?.close();
      await h?.close();
    });

    it('misses on an unknown key', async () => {
      assert.equal(await store.get(freshKey('miss')), undefined);
    });

    it('round-trips a JSON entry with usage', async () => {
      const k = freshKey('json');
      const e = jsonEntry();
      await store.set(k, e, 60);
      const hit = await store.get(k);
      assert.ok(hit);
      assert.deepEqual(hit.entry, e);
      assert.ok(hit.ttlLeftSecs > 0 && hit.ttlLeftSecs <= 60, `ttlLeftSecs ${hit.ttlLeftSecs}`);
    });

    it('round-trips a multi-line SSE body byte for byte (non-ASCII, CRLF, lone surrogate)', async () => {
      const k = freshKey('sse');
      await store.set(k, sseEntry, 60);
      const hit = await store.get(k);
      assert.ok(hit);
      assert.equal(hit.entry.kind, 'sse');
      assert.equal(hit.entry.body, SSE_BODY);
      assert.deepEqual(Buffer.from(hit.entry.body, 'utf8'), Buffer.from(SSE_BODY, 'utf8'));
      assert.equal(hit.entry.usage, undefined);
      const odd = { ...sseEntry, body: 'data: \ud800 half a pair\n\n' };
      await store.set(k, odd, 60);
      assert.equal((await store.get(k))?.entry.body, odd.body);
    });

    it('expires entries after their TTL', async () => {
      const k = freshKey('ttl');
      await store.set(k, jsonEntry(), 1);
      assert.ok(await store.get(k));
      await wait(1100);
      assert.equal(await store.get(k), undefined);
    });

    it('reports a decreasing ttlLeftSecs', async () => {
      const k = freshKey('left');
      await store.set(k, jsonEntry(), 2);
      const first = await store.get(k);
      assert.ok(first);
      assert.ok(first.ttlLeftSecs <= 2 && first.ttlLeftSecs >= 1, `first ${first.ttlLeftSecs}`);
      await wait(1050);
      const second = await store.get(k);
      assert.ok(second);
      assert.ok(second.ttlLeftSecs < first.ttlLeftSecs, `${second.ttlLeftSecs} < ${first.ttlLeftSecs}`);
    });

    it('overwrites an entry (new body, new TTL)', async () => {
      const k = freshKey('over');
      await store.set(k, jsonEntry('{"v":1}'), 1);
      await store.set(k, jsonEntry('{"v":2}'), 60);
      await wait(1100);
      const hit = await store.get(k);
      assert.equal(hit?.entry.body, '{"v":2}');
    });

    it('deletes an entry (and deleting a missing key is fine)', async () => {
      const k = freshKey('del');
      await store.set(k, jsonEntry(), 60);
      await store.delete(k);
      assert.equal(await store.get(k), undefined);
      await store.delete(freshKey('never'));
    });

    it('does not store an entry over the per-entry cap, nor keep the old one', async () => {
      const capped = await h.open('contract-cap', { maxEntryBytes: 1024 });
      try {
        const k = freshKey('big');
        await capped.set(k, jsonEntry('x'.repeat(1024)), 60);
        assert.ok(await capped.get(k), 'exactly at the cap is stored');
        // 400 code units but 1200 UTF-8 bytes: the cap is on bytes.
        await capped.set(k, jsonEntry('€'.repeat(400)), 60);
        assert.equal(await capped.get(k), undefined);
        await capped.set(k, jsonEntry('y'.repeat(5000)), 60);
        assert.equal(await capped.get(k), undefined);
      } finally {
        await capped.close();
      }
    });

    it('does not store with a TTL that is not positive', async () => {
      const k = freshKey('zero');
      await store.set(k, jsonEntry(), 0);
      assert.equal(await store.get(k), undefined);
    });

    it('keeps namespaces apart on one backend', async () => {
      const a = await h.open('ns-a');
      const b = await h.open('ns-b');
      try {
        const k = freshKey('shared');
        await a.set(k, jsonEntry('{"ns":"a"}'), 60);
        assert.equal(await b.get(k), undefined);
        await b.set(k, jsonEntry('{"ns":"b"}'), 60);
        assert.equal((await a.get(k))?.entry.body, '{"ns":"a"}');
        assert.equal((await b.get(k))?.entry.body, '{"ns":"b"}');
        await b.delete(k);
        assert.equal((await a.get(k))?.entry.body, '{"ns":"a"}');
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
}
