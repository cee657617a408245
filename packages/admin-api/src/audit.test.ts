/**
 * The audit trail on the Admin API, on both stores: every committed write leaves one record
 * (actor = admin key id, never the key; kind, id, the write's revision; a diff with secrets
 * as changed/unchanged flags only), refused writes leave none, `GET /admin/v1/audit` filters
 * and pages, bad parameters get 400, and retention keeps the newest `maxRecords`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminKeyId } from './auth.js';
import {
  ADMIN_KEY,
  arr,
  createProviderKey,
  describeOnBothStores,
  embeddedStoreFactory,
  obj,
  type StoreHandle,
  startTestAdmin,
  type TestAdmin,
} from './testing/harness.js';

const SECOND_KEY = 'second-admin-key-5b1e77-do-not-leak';
const SECRET = 'sk-provider-secret-9f8e7d6c';
const SECRET2 = 'sk-provider-secret-rotated-1a2b';

describeOnBothStores(
  'audit trail',
  (s) => {
    const audit = async (query = '') => {
      const r = await s.admin.call('GET', `/admin/v1/audit${query}`);
      assert.equal(r.status, 200, r.text);
      const body = obj(r.json);
      return { records: arr(body.records).map(obj), next: body.next_cursor as string | null, text: r.text };
    };

    it('records every write with actor id, kind, id, revision and a secret-safe diff', async () => {
      const pk = await s.admin.call('POST', '/admin/v1/provider_keys', {
        body: { display_name: 'audited', api_key: SECRET, provider: 'openai' },
      });
      assert.equal(pk.status, 200, pk.text);
      const id = String(obj(pk.json).id);
      const put = await s.admin.call('PUT', `/admin/v1/provider_keys/${id}`, {
        body: { display_name: 'audited-2', api_key: SECRET2, provider: 'openai' },
        key: SECOND_KEY,
      });
      assert.equal(put.status, 200, put.text);
      const patch = await s.admin.call('PATCH', `/admin/v1/provider_keys/${id}`, {
        body: { display_name: 'audited-3' },
      });
      assert.equal(patch.status, 200, patch.text);
      const del = await s.admin.call('DELETE', `/admin/v1/provider_keys/${id}`, { key: SECOND_KEY });
      assert.equal(del.status, 200, del.text);

      const { records, text } = await audit(`?kind=provider_keys&id=${id}`);
      assert.deepEqual(
        records.map((r) => [r.action, r.actor, r.revision]),
        [
          ['delete', adminKeyId(SECOND_KEY), undefined],
          ['patch', adminKeyId(ADMIN_KEY), obj(patch.json).revision],
          ['replace', adminKeyId(SECOND_KEY), obj(put.json).revision],
          ['create', adminKeyId(ADMIN_KEY), obj(pk.json).revision],
        ].map(([a, actor, rev], i) => [a, actor, rev ?? records[i]?.revision]),
      );
      const [d, p, r, c] = records;
      assert.ok(Number(d?.revision) > Number(p?.revision));
      for (const rec of records) {
        assert.equal(rec.kind, 'provider_keys');
        assert.equal(rec.id, id);
        assert.ok(Date.parse(String(rec.at)) > Date.now() - 60_000, String(rec.at));
      }
      // Create: every field as added; the secret as a changed flag.
      assert.deepEqual(
        arr(c?.changes).find((x) => obj(x).path === '/display_name'),
        { path: '/display_name', to: 'audited' },
      );
      assert.deepEqual(
        arr(c?.changes).find((x) => obj(x).path === '/api_key'),
        { path: '/api_key', secret: true, changed: true },
      );
      // Replace: the rename, and the changed secret without its value.
      assert.deepEqual(
        arr(r?.changes).filter((x) => ['/display_name', '/api_key'].includes(String(obj(x).path))),
        [
          { path: '/api_key', secret: true, changed: true },
          { path: '/display_name', from: 'audited', to: 'audited-2' },
        ],
      );
      // Patch: the secret is reported unchanged.
      assert.deepEqual(arr(p?.changes), [
        { path: '/api_key', secret: true, changed: false },
        { path: '/display_name', from: 'audited-2', to: 'audited-3' },
      ]);
      assert.deepEqual(
        arr(d?.changes).find((x) => obj(x).path === '/display_name'),
        { path: '/display_name', from: 'audited-3' },
      );
      // No secret and no admin key anywhere in the trail.
      for (const leak of [SECRET, SECRET2, ADMIN_KEY, SECOND_KEY, SECRET.slice(-4), SECRET2.slice(-4)]) {
        assert.ok(!text.includes(leak), `audit output contains ${leak}`);
      }
    });

    it('rotations are audited without the plaintext; grace_secs is recorded', async () => {
      const k = await s.admin.call('POST', '/admin/v1/api_keys', { body: { allowed_models: ['*'] } });
      const id = String(obj(k.json).id);
      const plaintext = String(obj(k.json).plaintext);
      const rot = await s.admin.call('POST', `/admin/v1/api_keys/${id}/rotate`, { body: { grace_secs: 60 } });
      assert.equal(rot.status, 200, rot.text);
      const { records, text } = await audit(`?kind=api_keys&id=${id}&action=rotate`);
      assert.equal(records.length, 1);
      const rec = records[0];
      assert.equal(rec?.grace_secs, 60);
      assert.equal(rec?.revision, obj(obj(rot.json).entry).revision);
      assert.deepEqual(arr(rec?.changes), [
        { path: '/key_hash', secret: true, changed: true },
        { path: '/previous_keys', secret: true, changed: true },
      ]);
      assert.ok(!text.includes(plaintext) && !text.includes(String(obj(rot.json).plaintext)));
      // The alias path filters the same kind.
      assert.equal((await audit(`?kind=apikeys&id=${id}`)).records.length, 2);
    });

    it('refused writes leave no record', async () => {
      const pk = await createProviderKey(s.admin, {
        display_name: 'pk-refusals',
        provider: 'openai',
        api_key: 'sk-test-upstream',
      });
      const k = await s.admin.call('POST', '/admin/v1/models', {
        body: { display_name: 'refusals', provider: 'openai', model_name: 'gpt-4o', provider_key_id: pk },
      });
      assert.equal(k.status, 200, k.text);
      const id = String(obj(k.json).id);
      const stale = { 'if-match': '"1"' };
      const refused = [
        await s.admin.call('PUT', `/admin/v1/models/${id}`, { body: { display_name: 'x' }, headers: stale }),
        await s.admin.call('PUT', `/admin/v1/models/${id}`, { body: { display_name: '' } }),
        await s.admin.call('POST', '/admin/v1/models', {
          body: { display_name: 'refusals', provider: 'openai', model_name: 'm', provider_key_id: pk },
        }),
        await s.admin.call('DELETE', `/admin/v1/models/${id}`, { headers: stale }),
        await s.admin.call('DELETE', '/admin/v1/models/absent'),
        await s.admin.call('PATCH', `/admin/v1/models/${id}`, { body: {}, key: 'not-an-admin-key' }),
      ];
      assert.deepEqual(
        refused.map((r) => r.status),
        [412, 400, 409, 412, 404, 401],
      );
      const { records } = await audit(`?kind=models&id=${id}`);
      assert.deepEqual(
        records.map((r) => r.action),
        ['create'],
      );
    });

    it('filters by actor and time, and pages with limit and cursor', async () => {
      const t0 = new Date().toISOString();
      await sleep(5);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await s.admin.call('POST', '/admin/v1/guardrails', {
          body: { name: `paging-${i}`, kind: 'keyword', patterns: [{ kind: 'literal', value: 'x' }] },
          key: i % 2 ? SECOND_KEY : ADMIN_KEY,
        });
        assert.equal(r.status, 200, r.text);
        ids.push(String(obj(r.json).id));
      }
      const since = `&since=${encodeURIComponent(t0)}`;
      const p1 = await audit(`?kind=guardrails${since}&limit=2`);
      assert.deepEqual(
        p1.records.map((r) => r.id),
        [ids[4], ids[3]],
      );
      assert.ok(p1.next);
      const p2 = await audit(`?kind=guardrails${since}&limit=2&cursor=${p1.next}`);
      assert.deepEqual(
        p2.records.map((r) => r.id),
        [ids[2], ids[1]],
      );
      const p3 = await audit(`?kind=guardrails${since}&limit=2&cursor=${p2.next}`);
      assert.deepEqual(
        p3.records.map((r) => r.id),
        [ids[0]],
      );
      assert.equal(p3.next, null);
      const second = await audit(
        `?kind=guardrails${since}&actor=${encodeURIComponent(adminKeyId(SECOND_KEY))}`,
      );
      assert.deepEqual(
        second.records.map((r) => r.id),
        [ids[3], ids[1]],
      );
      const none = await audit(
        `?kind=guardrails&until=${encodeURIComponent(t0)}&since=${encodeURIComponent(t0)}`,
      );
      assert.equal(none.records.length, 0);
    });

    it('bad parameters are 400 in the envelope; no admin key is 401', async () => {
      for (const q of [
        '?kind=widgets',
        '?action=upsert',
        '?since=yesterday',
        '?until=1700000000',
        '?limit=0',
        '?limit=1001',
        '?cursor=-1',
        '?cursor=abc',
        '?page=2',
        '?kind=models&kind=api_keys',
        '?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z',
      ]) {
        const r = await s.admin.call('GET', `/admin/v1/audit${q}`);
        assert.equal(r.status, 400, `${q}: ${r.text}`);
        assert.equal(typeof obj(r.json).error_msg, 'string');
      }
      assert.equal((await s.admin.call('GET', '/admin/v1/audit', { key: null })).status, 401);
    });
  },
  { adminKeys: [ADMIN_KEY, SECOND_KEY] },
);

describe('audit retention', () => {
  let h: StoreHandle;
  let admin: TestAdmin;
  before(async () => {
    h = await embeddedStoreFactory();
    admin = await startTestAdmin({ store: h.store, auditRetention: { maxRecords: 3, maxAgeDays: 1 } });
  });
  after(async () => {
    await admin?.close();
    await h?.close();
  });

  it('keeps the newest maxRecords records after writes', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await admin.call('POST', '/admin/v1/guardrails', {
        body: { name: `retained-${i}`, kind: 'keyword', patterns: [{ kind: 'literal', value: 'x' }] },
      });
      ids.push(String(obj(r.json).id));
    }
    const deadline = Date.now() + 5000;
    for (;;) {
      const page = obj((await admin.call('GET', '/admin/v1/audit')).json);
      const got = arr(page.records).map((r) => obj(r).id);
      if (got.length === 3) {
        assert.deepEqual(got, [ids[6], ids[5], ids[4]]);
        break;
      }
      assert.ok(Date.now() < deadline, `retention did not apply: ${got.length} records`);
      await sleep(20);
    }
  });
});
