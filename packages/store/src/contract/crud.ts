/**
 * Contract cases for ResourceStore: CRUD and error codes, real revisions, listing, and atomic
 * per-kind name uniqueness. Each case opens its own store (own prefix or dir), so cases never
 * see each other's keys; the global revision may still be shared (one etcd), so revisions are
 * compared with each other, never with fixed numbers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StoreFactory } from './factory.js';
import { bytes, keyOf, rejectsWith, withStore } from './helpers.js';

/** Not JSON, and shaped like a credential: it must never be quoted back. */
const RAW_SECRET = 'sk-raw-garbage-0123456789';

/** Values a direct writer can store that are not JSON objects. */
const BAD_VALUES: ReadonlyArray<readonly [string, Uint8Array]> = [
  ['not-json', bytes('not json {')],
  ['secret-ish', bytes(RAW_SECRET)],
  ['array', bytes('[1,2]')],
  ['string', bytes('"str"')],
  ['null', bytes('null')],
  ['number', bytes('42')],
  ['bad-utf8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
  ['empty', new Uint8Array(0)],
];

export function crudCases(factory: StoreFactory): void {
  describe('crud', () => {
    test('create then get returns the document and the write revision', () =>
      withStore(factory, async ({ store }) => {
        const w = await store.create('models', 'm1', { display_name: 'gpt', model: 'openai/gpt-4o' });
        assert.equal(w.id, 'm1');
        assert.ok(Number.isSafeInteger(w.revision) && w.revision > 0);
        assert.deepEqual(await store.get('models', 'm1'), {
          id: 'm1',
          value: { display_name: 'gpt', model: 'openai/gpt-4o' },
          revision: w.revision,
        });
      }));

    test('get of a missing id returns null', () =>
      withStore(factory, async ({ store }) => {
        assert.equal(await store.get('models', 'nope'), null);
        await store.create('models', 'other', { display_name: 'x' });
        assert.equal(await store.get('models', 'nope'), null);
        assert.equal(await store.get('provider_keys', 'other'), null);
      }));

    test('create of an existing id fails `exists` and keeps the stored document', () =>
      withStore(factory, async ({ store }) => {
        const w = await store.create('models', 'm1', { display_name: 'a' });
        await rejectsWith(store.create('models', 'm1', { display_name: 'b' }), 'exists');
        assert.deepEqual(await store.get('models', 'm1'), {
          id: 'm1',
          value: { display_name: 'a' },
          revision: w.revision,
        });
      }));

    test('replace updates the document with a newer revision; missing id fails `not_found`', () =>
      withStore(factory, async ({ store }) => {
        const c = await store.create('models', 'm1', { display_name: 'a', n: 1 });
        const r = await store.replace('models', 'm1', { display_name: 'a', n: 2 });
        assert.ok(r.revision > c.revision);
        assert.deepEqual(await store.get('models', 'm1'), {
          id: 'm1',
          value: { display_name: 'a', n: 2 },
          revision: r.revision,
        });
        await rejectsWith(store.replace('models', 'missing', { display_name: 'z' }), 'not_found');
        assert.equal(await store.get('models', 'missing'), null);
      }));

    test('delete removes the key; deleting or replacing a missing id fails `not_found`', () =>
      withStore(factory, async ({ store }) => {
        const c = await store.create('models', 'm1', { display_name: 'a' });
        const d = await store.delete('models', 'm1');
        assert.equal(d.id, 'm1');
        assert.ok(d.revision > c.revision);
        assert.equal(await store.get('models', 'm1'), null);
        await rejectsWith(store.delete('models', 'm1'), 'not_found');
        await rejectsWith(store.replace('models', 'm1', { display_name: 'a' }), 'not_found');
        // The id is free again.
        const again = await store.create('models', 'm1', { display_name: 'b' });
        assert.ok(again.revision > d.revision);
      }));

    test('revisions strictly increase and match get() and load() for each key', () =>
      withStore(factory, async ({ store, source }) => {
        const writes = [];
        writes.push(await store.create('models', 'a', { display_name: 'a' }));
        writes.push(await store.create('api_keys', 'k', { key_hash: 'h1' }));
        writes.push(await store.replace('models', 'a', { display_name: 'a2' }));
        writes.push(await store.create('models', 'b', { display_name: 'b' }));
        const del = await store.delete('models', 'b');
        for (let i = 1; i < writes.length; i++) {
          assert.ok((writes[i]?.revision ?? 0) > (writes[i - 1]?.revision ?? 0), `write ${i} revision`);
        }
        assert.ok(del.revision > (writes[3]?.revision ?? 0));
        assert.equal((await store.get('models', 'a'))?.revision, writes[2]?.revision);
        assert.equal((await store.get('api_keys', 'k'))?.revision, writes[1]?.revision);

        const loaded = await source.load();
        assert.ok(loaded.revision >= del.revision, 'load() is served at or after the last write');
        assert.deepEqual(
          loaded.entries.map((e) => [e.key, e.revision]),
          [
            [keyOf(source, 'api_keys', 'k'), writes[1]?.revision],
            [keyOf(source, 'models', 'a'), writes[2]?.revision],
          ],
        );
        assert.deepEqual(JSON.parse(new TextDecoder().decode(loaded.entries[1]?.value)), {
          display_name: 'a2',
        });
      }));
  });

  describe('list', () => {
    test('lists one kind ascending by id, isolated from other and look-alike kinds', () =>
      withStore(factory, async (s) => {
        const { store } = s;
        for (const id of ['b', 'a', 'c', 'a1', 'B']) await store.create('models', id, { display_name: id });
        await store.create('provider_keys', 'a', { display_name: 'pk' });
        await store.create('guardrail_attachments', 'g', { guardrail_id: 'x' });
        await s.putRaw(`${s.source.prefix}/models_old/z`, bytes('{"display_name":"old"}'));
        await s.putRaw(`${s.source.prefix}/modelsx`, bytes('{"display_name":"x"}'));
        const models = await store.list('models');
        assert.deepEqual(
          models.map((d) => d.id),
          ['B', 'a', 'a1', 'b', 'c'],
        );
        assert.deepEqual(
          models.map((d) => d.value),
          ['B', 'a', 'a1', 'b', 'c'].map((id) => ({ display_name: id })),
        );
        for (const d of models) assert.equal(d.revision, (await store.get('models', d.id))?.revision);
        assert.deepEqual(
          (await store.list('provider_keys')).map((d) => d.id),
          ['a'],
        );
        assert.deepEqual(await store.list('guardrails'), []);
      }));

    test('skips values that are not JSON objects', () =>
      withStore(factory, async (s) => {
        const { store } = s;
        await store.create('models', 'good', { display_name: 'good' });
        for (const [id, value] of BAD_VALUES) await s.putRaw(keyOf(s.source, 'models', id), value);
        const listed = await store.list('models');
        assert.deepEqual(
          listed.map((d) => d.id),
          ['good'],
        );
        // The raw keys are still there for readers that report them (load sees every key).
        const loaded = await s.source.load();
        assert.equal(loaded.entries.length, BAD_VALUES.length + 1);
      }));
  });

  describe('a stored value that is not a JSON object (a direct writer put it there)', () => {
    test('list reports each skipped key with a reason that never quotes the value', () =>
      withStore(factory, async (s) => {
        const { store } = s;
        await store.create('models', 'good', { display_name: 'good' });
        for (const [id, value] of BAD_VALUES) await s.putRaw(keyOf(s.source, 'models', id), value);
        const skipped: Array<{ id: string; reason: string }> = [];
        const listed = await store.list('models', (id, reason) => skipped.push({ id, reason }));
        assert.deepEqual(
          listed.map((d) => d.id),
          ['good'],
        );
        assert.deepEqual(skipped.map((x) => x.id).sort(), BAD_VALUES.map(([id]) => id).sort());
        for (const { id, reason } of skipped) {
          assert.match(reason, /^value is not (valid UTF-8|valid JSON|a JSON object)$/, id);
        }
        assert.equal(skipped.find((x) => x.id === 'secret-ish')?.reason, 'value is not valid JSON');
        assert.equal(skipped.find((x) => x.id === 'array')?.reason, 'value is not a JSON object');
      }));

    test('get fails `undecodable` with the key revision, never `null` (the key exists)', () =>
      withStore(factory, async (s) => {
        const { store } = s;
        for (const [id, value] of BAD_VALUES) {
          const rev = await s.putRaw(keyOf(s.source, 'models', id), value);
          const err = await rejectsWith(store.get('models', id), 'undecodable');
          assert.equal(err.currentRevision, rev, id);
          assert.ok(!err.message.includes(RAW_SECRET), 'the raw value is never quoted');
        }
      }));

    test('create of its id fails `exists`; replace and delete act on it as on any key', () =>
      withStore(factory, async (s) => {
        const { store } = s;
        const key = keyOf(s.source, 'models', 'bad');
        let rev = await s.putRaw(key, bytes(RAW_SECRET));
        await rejectsWith(store.create('models', 'bad', { display_name: 'x' }), 'exists');
        // Plain replace repairs it.
        const r1 = await store.replace('models', 'bad', { display_name: 'fixed', n: 1 });
        assert.ok(r1.revision > rev);
        assert.deepEqual(await store.get('models', 'bad'), {
          id: 'bad',
          value: { display_name: 'fixed', n: 1 },
          revision: r1.revision,
        });
        // Guarded replace with a uniqueness constraint (the Admin API's path) repairs it too,
        // and only at the revision the bad value is at.
        rev = await s.putRaw(key, bytes('[1,2]'));
        const u = { field: 'display_name', value: 'fixed' };
        await rejectsWith(
          store.replace('models', 'bad', { display_name: 'fixed', n: 2 }, u, { ifRevision: rev - 1 }),
          'revision_mismatch',
        );
        const r2 = await store.replace('models', 'bad', { display_name: 'fixed', n: 2 }, u, {
          ifRevision: rev,
        });
        assert.deepEqual((await store.get('models', 'bad'))?.value, { display_name: 'fixed', n: 2 });
        assert.ok(r2.revision > rev);
        // Plain and guarded deletes remove it.
        await s.putRaw(key, bytes(RAW_SECRET));
        await store.delete('models', 'bad');
        assert.equal(await store.get('models', 'bad'), null);
        rev = await s.putRaw(key, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
        await store.delete('models', 'bad', { ifRevision: rev });
        assert.equal(await store.get('models', 'bad'), null);
        await rejectsWith(store.delete('models', 'bad'), 'not_found');
        assert.deepEqual(
          (await s.source.load()).entries.map((e) => e.key),
          [],
        );
      }));
  });

  describe('uniqueness', () => {
    test('20 concurrent creates of one name: exactly one wins, 19 fail `conflict`', () =>
      withStore(factory, async ({ store }) => {
        const ids = Array.from({ length: 20 }, (_, i) => `m${String(i).padStart(2, '0')}`);
        const results = await Promise.allSettled(
          ids.map((id) =>
            store.create('models', id, { display_name: 'same' }, { field: 'display_name', value: 'same' }),
          ),
        );
        const ok = results.filter((r) => r.status === 'fulfilled');
        const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        assert.equal(ok.length, 1);
        assert.equal(failed.length, 19);
        for (const err of failed) {
          assert.equal((err as { code?: string }).code, 'conflict', String(err));
          assert.equal((err as { conflictValue?: string }).conflictValue, 'same');
        }
        const listed = await store.list('models');
        assert.equal(listed.length, 1);
        assert.equal(listed[0]?.value.display_name, 'same');
      }));

    test('replace keeping its own name is allowed; taking another id’s name fails `conflict`', () =>
      withStore(factory, async ({ store }) => {
        const u = (value: string) => ({ field: 'display_name', value });
        await store.create('models', 'a', { display_name: 'alpha' }, u('alpha'));
        await store.create('models', 'b', { display_name: 'beta' }, u('beta'));
        const r = await store.replace('models', 'a', { display_name: 'alpha', n: 2 }, u('alpha'));
        assert.equal((await store.get('models', 'a'))?.revision, r.revision);
        const err = await rejectsWith(
          store.replace('models', 'b', { display_name: 'alpha' }, u('alpha')),
          'conflict',
        );
        assert.equal(err.conflictValue, 'alpha');
        assert.deepEqual((await store.get('models', 'b'))?.value, { display_name: 'beta' });
        await rejectsWith(store.create('models', 'c', { display_name: 'beta' }, u('beta')), 'conflict');
        assert.equal(await store.get('models', 'c'), null);
        // Renaming frees the old name.
        await store.replace('models', 'b', { display_name: 'gamma' }, u('gamma'));
        await store.create('models', 'c', { display_name: 'beta' }, u('beta'));
        // Deleting frees a name too.
        await store.delete('models', 'a');
        await store.create('models', 'd', { display_name: 'alpha' }, u('alpha'));
      }));

    test('a name held under the alias field conflicts too (MCP servers: `name` or `display_name`)', () =>
      withStore(factory, async ({ store }) => {
        const u = (value: string) => ({ field: 'name', value, alias: 'display_name' });
        await store.create('mcp_servers', 'a', { display_name: 'tools', url: 'https://a' }, u('tools'));
        const err = await rejectsWith(
          store.create('mcp_servers', 'b', { name: 'tools', url: 'https://b' }, u('tools')),
          'conflict',
        );
        assert.equal(err.conflictValue, 'tools');
        await store.create('mcp_servers', 'b', { name: 'other', url: 'https://b' }, u('other'));
        await rejectsWith(
          store.replace('mcp_servers', 'a', { display_name: 'other', url: 'https://a' }, u('other')),
          'conflict',
        );
        // Its own name, in either field, is not a conflict.
        await store.replace('mcp_servers', 'a', { name: 'tools', url: 'https://a2' }, u('tools'));
      }));

    test('names are unique per kind only', () =>
      withStore(factory, async ({ store }) => {
        const u = { field: 'display_name', value: 'shared' };
        await store.create('models', 'a', { display_name: 'shared' }, u);
        await store.create('provider_keys', 'a', { display_name: 'shared' }, u);
        assert.equal((await store.list('provider_keys')).length, 1);
      }));
  });

  describe('compare-and-set (ifRevision)', () => {
    test('replace and delete commit only at the expected revision; a stale one fails `revision_mismatch`', () =>
      withStore(factory, async ({ store }) => {
        const c = await store.create('models', 'm1', { display_name: 'a', n: 1 });
        const r = await store.replace('models', 'm1', { display_name: 'a', n: 2 }, undefined, {
          ifRevision: c.revision,
        });
        const stale = await rejectsWith(
          store.replace('models', 'm1', { display_name: 'a', n: 3 }, undefined, { ifRevision: c.revision }),
          'revision_mismatch',
        );
        assert.equal(stale.currentRevision, r.revision);
        // The same with a uniqueness constraint (the other write path).
        const u = { field: 'display_name', value: 'a' };
        const stale2 = await rejectsWith(
          store.replace('models', 'm1', { display_name: 'a', n: 4 }, u, { ifRevision: c.revision }),
          'revision_mismatch',
        );
        assert.equal(stale2.currentRevision, r.revision);
        assert.deepEqual((await store.get('models', 'm1'))?.value, { display_name: 'a', n: 2 });
        const r2 = await store.replace('models', 'm1', { display_name: 'a', n: 5 }, u, {
          ifRevision: r.revision,
        });
        await rejectsWith(store.delete('models', 'm1', { ifRevision: r.revision }), 'revision_mismatch');
        assert.ok(await store.get('models', 'm1'));
        await store.delete('models', 'm1', { ifRevision: r2.revision });
        assert.equal(await store.get('models', 'm1'), null);
        // A guarded write of a missing key is `not_found`, not a mismatch.
        await rejectsWith(
          store.replace('models', 'm1', { display_name: 'a' }, undefined, { ifRevision: r2.revision }),
          'not_found',
        );
        await rejectsWith(
          store.replace('models', 'm1', { display_name: 'a' }, u, { ifRevision: 1 }),
          'not_found',
        );
        await rejectsWith(store.delete('models', 'm1', { ifRevision: r2.revision }), 'not_found');
      }));

    test('20 concurrent replaces at one revision: exactly one wins, 19 fail `revision_mismatch`', () =>
      withStore(factory, async ({ store }) => {
        const c = await store.create('api_keys', 'k', { key_hash: 'h0', allowed_models: [] });
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            store.replace(
              'api_keys',
              'k',
              { key_hash: `h${i + 1}`, allowed_models: [] },
              { field: 'key_hash', value: `h${i + 1}` },
              { ifRevision: c.revision },
            ),
          ),
        );
        const won = results.flatMap((r, i) =>
          r.status === 'fulfilled' ? [{ i, rev: r.value.revision }] : [],
        );
        assert.equal(won.length, 1);
        for (const r of results) {
          if (r.status === 'rejected')
            assert.equal((r.reason as { code?: string }).code, 'revision_mismatch');
        }
        const stored = await store.get('api_keys', 'k');
        assert.equal(stored?.value.key_hash, `h${(won[0]?.i ?? -1) + 1}`);
        assert.equal(stored?.revision, won[0]?.rev);
      }));
  });
}
