/**
 * Ids a direct etcd writer may choose (control-plane §2.1: an id may contain `/`; §2.3: any
 * id) are listed, so the Admin API addresses them too, percent-encoded in the path and decoded
 * once: GET, PUT, PATCH and DELETE work on `team/g1`, `a b`, `a%b` and a 300-character id, on
 * both stores. `..` segments and control characters stay refused.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { arr, describeOnBothStores, obj } from './testing/harness.js';

const IDS = ['team/g1', 'a b', 'a%b', 'x'.repeat(300), 'team/sub/g-ü'];

describeOnBothStores('direct-writer ids on the Admin API', (s) => {
  it('listed ids can be read, replaced, patched and deleted', async () => {
    for (const [i, id] of IDS.entries()) {
      const body = { name: `g-${i}`, kind: 'keyword', patterns: [{ kind: 'literal', value: 'x' }] };
      await s.h.putRaw('guardrails', id, JSON.stringify(body));
    }
    const listed = arr((await s.admin.call('GET', '/admin/v1/guardrails')).json).map((e) => obj(e).id);
    for (const id of IDS) assert.ok(listed.includes(id), id);
    for (const [i, id] of IDS.entries()) {
      const path = `/admin/v1/guardrails/${encodeURIComponent(id)}`;
      const g = await s.admin.call('GET', path);
      assert.equal(g.status, 200, `${id}: ${g.text}`);
      assert.equal(obj(g.json).id, id);
      const put = await s.admin.call('PUT', path, {
        body: { name: `g-${i}`, kind: 'keyword', patterns: [{ kind: 'literal', value: 'y' }] },
      });
      assert.equal(put.status, 200, `${id}: ${put.text}`);
      const patch = await s.admin.call('PATCH', path, { body: { enabled: false } });
      assert.equal(patch.status, 200, `${id}: ${patch.text}`);
      const v = (await s.h.store.get('guardrails', id))?.value ?? {};
      assert.equal(v.enabled, false);
      assert.deepEqual(v.patterns, [{ kind: 'literal', value: 'y' }]);
      const del = await s.admin.call('DELETE', path);
      assert.equal(del.status, 200, `${id}: ${del.text}`);
      assert.deepEqual(del.json, { deleted: true, id });
      assert.equal(await s.h.store.get('guardrails', id), null);
    }
    assert.equal(await s.h.rawCount('guardrails'), 0);
  });

  it('an id decodes once: %2525 is the id "%25", not "%"', async () => {
    await s.h.putRaw('guardrails', 'p%25q', JSON.stringify({ name: 'pct', kind: 'keyword', patterns: [] }));
    assert.equal((await s.admin.call('GET', '/admin/v1/guardrails/p%2525q')).status, 200);
    assert.equal((await s.admin.call('GET', '/admin/v1/guardrails/p%25q')).status, 404);
    assert.equal((await s.admin.call('DELETE', '/admin/v1/guardrails/p%2525q')).status, 200);
  });

  it('.. segments and control characters stay refused (400, the store is not asked)', async () => {
    for (const raw of ['..%2Fx', 'a%2F..%2Fb', 'a%2F.', 'a%00b', 'a%0Ab', 'a%7Fb', 'a%C2%85b']) {
      const r = await s.admin.call('GET', `/admin/v1/guardrails/${raw}`);
      assert.equal(r.status, 400, `${raw}: ${r.text}`);
      assert.equal(obj(r.json).error_msg, 'invalid resource id');
    }
    const long = await s.admin.call('GET', `/admin/v1/guardrails/${'x'.repeat(4097)}`);
    assert.equal(long.status, 400, long.text);
  });
});
