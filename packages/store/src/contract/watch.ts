/**
 * Contract cases for ConfigSource: load at a revision, watch from a revision (history replay,
 * then live), exactly-once delivery after load, ordering, deletes, compaction and abort.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StoreFactory } from './factory.js';
import { collect, keyOf, summary, withStore } from './helpers.js';

export function watchCases(factory: StoreFactory): void {
  describe('load', () => {
    test('returns every key under the prefix ascending by key, with mod revisions', () =>
      withStore(factory, async (s) => {
        const { store, source } = s;
        const empty = await source.load();
        assert.deepEqual(empty.entries, []);
        assert.ok(Number.isSafeInteger(empty.revision) && empty.revision >= 0);
        const m = await store.create('models', 'm', { display_name: 'm' });
        const k = await store.create('api_keys', 'k', { key_hash: 'h' });
        const raw = await s.putRaw(`${source.prefix}/unknown_kind/x`, new TextEncoder().encode('{}'));
        const loaded = await source.load();
        assert.ok(loaded.revision >= raw);
        assert.deepEqual(
          loaded.entries.map((e) => [e.key, e.revision]),
          [
            [keyOf(source, 'api_keys', 'k'), k.revision],
            [keyOf(source, 'models', 'm'), m.revision],
            [`${source.prefix}/unknown_kind/x`, raw],
          ],
        );
      }));

    test('an aborted signal rejects load', () =>
      withStore(factory, async ({ source }) => {
        const ac = new AbortController();
        ac.abort();
        await assert.rejects(source.load(ac.signal));
      }));
  });

  describe('watch', () => {
    test('from a past revision replays puts and deletes after it, in order, with revisions', () =>
      withStore(factory, async ({ store, source }) => {
        const a = await store.create('models', 'a', { display_name: 'a' });
        const b = await store.create('models', 'b', { display_name: 'b' });
        const r = await store.replace('models', 'a', { display_name: 'a2' });
        const d = await store.delete('models', 'b');
        const w = collect(source, b.revision);
        await w.waitFor(3);
        assert.deepEqual(summary(w.events), [
          ['put', keyOf(source, 'models', 'b'), b.revision, { display_name: 'b' }],
          ['put', keyOf(source, 'models', 'a'), r.revision, { display_name: 'a2' }],
          ['delete', keyOf(source, 'models', 'b'), d.revision],
        ]);
        assert.ok(w.events.every((e) => e.revision > a.revision));
        assert.deepEqual(await w.stop(), { reason: 'aborted' });
      }));

    test('from load().revision + 1 sees every later write exactly once, in order', () =>
      withStore(factory, async ({ store, source }) => {
        await store.create('models', 'before', { display_name: 'before' });
        const loaded = await source.load();
        const w = collect(source, loaded.revision + 1);
        const c1 = await store.create('models', 'x', { display_name: 'x' });
        const c2 = await store.create('provider_keys', 'p', { display_name: 'p' });
        const r1 = await store.replace('models', 'x', { display_name: 'x2' });
        const d1 = await store.delete('models', 'before');
        const d2 = await store.delete('models', 'x');
        await w.waitFor(5);
        // Give a duplicate or a stray replay the chance to show up before asserting.
        await sleep(150);
        assert.deepEqual(summary(w.events), [
          ['put', keyOf(source, 'models', 'x'), c1.revision, { display_name: 'x' }],
          ['put', keyOf(source, 'provider_keys', 'p'), c2.revision, { display_name: 'p' }],
          ['put', keyOf(source, 'models', 'x'), r1.revision, { display_name: 'x2' }],
          ['delete', keyOf(source, 'models', 'before'), d1.revision],
          ['delete', keyOf(source, 'models', 'x'), d2.revision],
        ]);
        assert.deepEqual(await w.stop(), { reason: 'aborted' });
      }));

    test('concurrent writes to many keys arrive once each in revision order', () =>
      withStore(factory, async ({ store, source }) => {
        const w = collect(source, (await source.load()).revision + 1);
        const writes = await Promise.all(
          Array.from({ length: 30 }, (_, i) => store.create('api_keys', `k${i}`, { key_hash: `h${i}` })),
        );
        await w.waitFor(30);
        await sleep(100);
        const revs = w.events.map((e) => e.revision);
        assert.equal(revs.length, 30);
        for (let i = 1; i < revs.length; i++)
          assert.ok((revs[i] ?? 0) > (revs[i - 1] ?? 0), 'strictly increasing');
        assert.deepEqual(
          [...revs].sort((x, y) => x - y),
          writes.map((x) => x.revision).sort((x, y) => x - y),
        );
        for (const ev of w.events) {
          const id = ev.key.slice(`${source.prefix}/api_keys/`.length);
          assert.equal(ev.revision, writes[Number(id.slice(1))]?.revision, ev.key);
        }
        await w.stop();
      }));

    test('a watch from a future revision delivers only writes from that revision on', () =>
      withStore(factory, async ({ store, source }) => {
        const first = await store.create('models', 'a', { display_name: 'a' });
        const w = collect(source, first.revision + 2);
        const second = await store.create('models', 'b', { display_name: 'b' });
        const later = [];
        for (let i = 0; i < 3; i++)
          later.push(await store.create('models', `c${i}`, { display_name: `c${i}` }));
        const expected = [second, ...later].filter((x) => x.revision >= first.revision + 2);
        await w.waitFor(expected.length);
        await sleep(50);
        assert.deepEqual(
          w.events.map((e) => e.revision),
          expected.map((x) => x.revision),
        );
        await w.stop();
      }));

    test('a start revision older than the retained history resolves `compacted`', async (t) => {
      await withStore(factory, async (s) => {
        if (!s.compact) {
          t.skip(`${factory.name}: factory provides no compact hook`);
          return;
        }
        const a = await s.store.create('models', 'a', { display_name: 'a' });
        await s.store.replace('models', 'a', { display_name: 'a2' });
        const c = await s.store.replace('models', 'a', { display_name: 'a3' });
        await s.compact(c.revision);
        const events: unknown[] = [];
        const end = await s.source.watch(a.revision, (e) => events.push(...e), AbortSignal.timeout(5000));
        assert.equal(end.reason, 'compacted', JSON.stringify(end));
        assert.ok(end.reason === 'compacted' && end.compactRevision > a.revision, JSON.stringify(end));
        assert.deepEqual(events, []);
        // The compacted revision itself and later ones are still watchable.
        const w = collect(s.source, c.revision);
        await w.waitFor(1);
        assert.equal(w.events[0]?.revision, c.revision);
        await w.stop();
        // A full reload after compaction still serves the latest state.
        const loaded = await s.source.load();
        assert.deepEqual(
          loaded.entries.map((e) => e.revision),
          [c.revision],
        );
      });
    });

    test('aborting resolves `aborted`, also for a signal aborted before the call', () =>
      withStore(factory, async ({ store, source }) => {
        const from = (await source.load()).revision + 1;
        const w = collect(source, from);
        await sleep(50);
        assert.deepEqual(await w.stop(), { reason: 'aborted' });
        // No events after abort.
        await store.create('models', 'late', { display_name: 'late' });
        await sleep(50);
        assert.deepEqual(w.events, []);
        const ac = new AbortController();
        ac.abort();
        assert.deepEqual(await source.watch(from, () => {}, ac.signal), { reason: 'aborted' });
      }));
  });
}
