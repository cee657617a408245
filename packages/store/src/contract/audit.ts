/**
 * Contract cases for the audit log: a record is committed in the same transaction as its
 * write (same revision; a refused write leaves none), records never reach the gateways' load or
 * watch, queries page newest first with filters, and retention prunes by count and by age.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AuditInput, AuditLog, ResourceStore } from '../types.js';
import type { StoreFactory } from './factory.js';
import { collect, rejectsWith, summary, withStore } from './helpers.js';

const rec = (at: number, extra: Record<string, unknown>): { audit: AuditInput } => ({
  audit: { at, doc: { at: new Date(at).toISOString(), ...extra } },
});

function logOf(store: ResourceStore): AuditLog {
  assert.ok(store.audit, 'the store keeps an audit log');
  return store.audit;
}

export function auditCases(factory: StoreFactory): void {
  describe('audit log', () => {
    test('each write commits its record at the same revision; refused writes leave none', () =>
      withStore(factory, async ({ store }) => {
        const log = logOf(store);
        const t = Date.now();
        const u = { field: 'display_name', value: 'a' };
        const c = await store.create('models', 'm1', { display_name: 'a' }, u, rec(t, { action: 'create' }));
        const r = await store.replace('models', 'm1', { display_name: 'a', n: 1 }, undefined, {
          ifRevision: c.revision,
          ...rec(t + 1, { action: 'replace' }),
        });
        const r2 = await store.replace(
          'models',
          'm1',
          { display_name: 'a', n: 2 },
          u,
          rec(t + 2, { action: 'replace2' }),
        );
        // Refused: exists, conflict, stale revision, not found. None leaves a record.
        await rejectsWith(
          store.create('models', 'm1', { display_name: 'x' }, undefined, rec(t, { action: 'no1' })),
          'exists',
        );
        await rejectsWith(
          store.create('models', 'm2', { display_name: 'a' }, u, rec(t, { action: 'no2' })),
          'conflict',
        );
        await rejectsWith(
          store.replace('models', 'm1', { display_name: 'a' }, undefined, {
            ifRevision: c.revision,
            ...rec(t, { action: 'no3' }),
          }),
          'revision_mismatch',
        );
        await rejectsWith(store.delete('models', 'nope', rec(t, { action: 'no4' })), 'not_found');
        const d = await store.delete('models', 'm1', rec(t + 3, { action: 'delete' }));
        const page = await log.query({ limit: 100 });
        assert.deepEqual(
          page.records.map((x) => [x.revision, x.doc.action]),
          [
            [d.revision, 'delete'],
            [r2.revision, 'replace2'],
            [r.revision, 'replace'],
            [c.revision, 'create'],
          ],
        );
        assert.equal(page.next, null);
        assert.equal(page.records[3]?.doc.at, new Date(t).toISOString());
      }));

    test('records are not resources: load and watch never see them', () =>
      withStore(factory, async ({ store, source }) => {
        const before = await source.load();
        const w = collect(source, before.revision + 1);
        const c = await store.create(
          'models',
          'm1',
          { display_name: 'a' },
          undefined,
          rec(Date.now(), { action: 'create' }),
        );
        const d = await store.delete('models', 'm1', rec(Date.now(), { action: 'delete' }));
        await w.waitFor(2);
        const keys = summary(w.events).map(([type, key, revision]) => [type, key, revision]);
        assert.deepEqual(keys, [
          ['put', `${source.prefix}/models/m1`, c.revision],
          ['delete', `${source.prefix}/models/m1`, d.revision],
        ]);
        await w.stop();
        const after = await source.load();
        assert.equal(after.entries.length, before.entries.length);
        assert.equal((await logOf(store).query({ limit: 10 })).records.length, 2);
      }));

    test('queries filter by time and predicate and page newest first', () =>
      withStore(factory, async ({ store }) => {
        const log = logOf(store);
        const t0 = Date.UTC(2026, 0, 1);
        const revs: number[] = [];
        await store.create('models', 'm', { display_name: 'm', n: 0 }, undefined, rec(t0, { i: 0 }));
        for (let i = 1; i <= 11; i++) {
          revs.push(
            (
              await store.replace(
                'models',
                'm',
                { display_name: 'm', n: i },
                undefined,
                rec(t0 + i * 1000, { i }),
              )
            ).revision,
          );
        }
        const p1 = await log.query({ limit: 4, match: (doc) => Number(doc.i) % 2 === 1 });
        assert.deepEqual(
          p1.records.map((r) => r.doc.i),
          [11, 9, 7, 5],
        );
        assert.equal(p1.next, revs[4]);
        const p2 = await log.query({
          limit: 4,
          beforeRevision: p1.next ?? 0,
          match: (doc) => Number(doc.i) % 2 === 1,
        });
        assert.deepEqual(
          p2.records.map((r) => r.doc.i),
          [3, 1],
        );
        assert.equal(p2.next, null);
        const window = await log.query({ limit: 100, sinceMs: t0 + 3000, untilMs: t0 + 5000 });
        assert.deepEqual(
          window.records.map((r) => r.doc.i),
          [5, 4, 3],
        );
      }));

    test('retention deletes the oldest records beyond the count and those older than the age', () =>
      withStore(factory, async ({ store }) => {
        const log = logOf(store);
        const now = Date.now();
        await store.create(
          'models',
          'm',
          { display_name: 'm' },
          undefined,
          rec(now - 10 * 86_400_000, { i: 0 }),
        );
        for (let i = 1; i <= 6; i++) {
          await store.replace(
            'models',
            'm',
            { display_name: 'm', n: i },
            undefined,
            rec(now - (7 - i) * 1000, { i }),
          );
        }
        // Age: 1 day drops record 0 only.
        assert.equal(await log.prune({ maxRecords: 100, maxAgeMs: 86_400_000 }, now), 1);
        // Count: keep the newest 4.
        assert.equal(await log.prune({ maxRecords: 4, maxAgeMs: 86_400_000 }, now), 2);
        const left = await log.query({ limit: 100 });
        assert.deepEqual(
          left.records.map((r) => r.doc.i),
          [6, 5, 4, 3],
        );
        assert.equal(await log.prune({ maxRecords: 4, maxAgeMs: 86_400_000 }, now), 0);
        // The resource itself is untouched.
        assert.equal((await store.get('models', 'm'))?.value.n, 6);
      }));
  });
}
