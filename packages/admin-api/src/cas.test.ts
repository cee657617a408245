/**
 * Compare-and-set on the Admin API, on both stores: ETag = revision, If-Match on PUT, PATCH,
 * DELETE and rotate (412 with the current revision when stale), concurrent rotations at one
 * revision (exactly one wins), and concurrent unconditional PATCHes of different fields (none
 * lost, because the read-merge-write retries under a revision compare).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { hashApiKey } from '@aisix/core';
import { describeOnBothStores, obj } from './testing/harness.js';

describeOnBothStores('compare-and-set', (s) => {
  async function newKey(): Promise<{ id: string; revision: number }> {
    const r = await s.admin.call('POST', '/admin/v1/api_keys', { body: { allowed_models: ['*'] } });
    assert.equal(r.status, 200, r.text);
    const e = obj(r.json);
    // A create is a single-resource response too: its ETag is the new revision.
    assert.equal(r.headers.get('etag'), `"${Number(e.revision)}"`);
    return { id: String(e.id), revision: Number(e.revision) };
  }

  it('GET carries the revision as a strong ETag; writes return the new one', async () => {
    const { id, revision } = await newKey();
    const g = await s.admin.call('GET', `/admin/v1/api_keys/${id}`);
    assert.equal(g.headers.get('etag'), `"${revision}"`);
    const p = await s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, {
      body: { disabled: true },
      headers: { 'if-match': `"${revision}"` },
    });
    assert.equal(p.status, 200, p.text);
    const rev2 = Number(obj(p.json).revision);
    assert.ok(rev2 > revision);
    assert.equal(p.headers.get('etag'), `"${rev2}"`);
    assert.equal(obj(obj(p.json).value).disabled, true);
  });

  it('a stale If-Match gets 412 in the error envelope with the current ETag, and writes nothing', async () => {
    const { id, revision } = await newKey();
    const moved = await s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, {
      body: { allowed_models: ['a-*'] },
    });
    assert.equal(moved.status, 200, moved.text);
    const current = Number(obj(moved.json).revision);
    const stale = { 'if-match': `"${revision}"` };
    const attempts = [
      await s.admin.call('PUT', `/admin/v1/api_keys/${id}`, {
        body: { allowed_models: ['b-*'] },
        headers: stale,
      }),
      await s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, {
        body: { allowed_models: ['c-*'] },
        headers: stale,
      }),
      await s.admin.call('POST', `/admin/v1/api_keys/${id}/rotate`, { headers: stale }),
      await s.admin.call('DELETE', `/admin/v1/api_keys/${id}`, { headers: stale }),
    ];
    for (const r of attempts) {
      assert.equal(r.status, 412, r.text);
      assert.match(String(obj(r.json).error_msg), new RegExp(`^precondition failed: .*revision ${current}`));
      assert.equal(r.headers.get('etag'), `"${current}"`);
    }
    const g = await s.admin.call('GET', `/admin/v1/api_keys/${id}`);
    assert.equal(obj(g.json).revision, current);
    assert.deepEqual(obj(obj(g.json).value).allowed_models, ['a-*']);
    // The current revision (a list that contains it, or `*`) is accepted.
    const ok = await s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, {
      body: { allowed_models: ['d-*'] },
      headers: { 'if-match': `"1", "${current}"` },
    });
    assert.equal(ok.status, 200, ok.text);
    const del = await s.admin.call('DELETE', `/admin/v1/api_keys/${id}`, { headers: { 'if-match': '*' } });
    assert.equal(del.status, 200, del.text);
    const gone = await s.admin.call('PUT', `/admin/v1/api_keys/${id}`, {
      body: { allowed_models: [] },
      headers: { 'if-match': '*' },
    });
    assert.equal(gone.status, 404);
  });

  it('a malformed If-Match is 400 and writes nothing', async () => {
    const { id, revision } = await newKey();
    for (const bad of ['W/"1"', 'abc', '"x"', '""', '"0"', '1, nope']) {
      const r = await s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, {
        body: { disabled: true },
        headers: { 'if-match': bad },
      });
      assert.equal(r.status, 400, `${bad}: ${r.text}`);
      assert.match(String(obj(r.json).error_msg), /^invalid If-Match header/);
    }
    assert.equal(obj((await s.admin.call('GET', `/admin/v1/api_keys/${id}`)).json).revision, revision);
  });

  it('20 parallel rotations with If-Match of one revision: exactly one wins, 19 get 412', async () => {
    const { id, revision } = await newKey();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        s.admin.call('POST', `/admin/v1/api_keys/${id}/rotate`, { headers: { 'if-match': `"${revision}"` } }),
      ),
    );
    const won = results.filter((r) => r.status === 200);
    assert.equal(won.length, 1, results.map((r) => `${r.status} ${r.text}`).join('\n'));
    assert.deepEqual(
      results.filter((r) => r.status !== 200).map((r) => r.status),
      Array(19).fill(412),
    );
    const winner = obj(won[0]?.json);
    const stored = obj((await s.admin.call('GET', `/admin/v1/api_keys/${id}`)).json);
    assert.equal(stored.revision, obj(winner.entry).revision);
    // The winner's plaintext is the one stored (compared through the store, past the mask).
    const raw = await s.h.store.get('api_keys', id);
    assert.equal(raw?.value.key_hash, hashApiKey(String(winner.plaintext)));
  });

  it('20 concurrent unconditional PATCHes of different fields: none is lost', async () => {
    const { id } = await newKey();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, {
          body: { mcp_rate_limits: { [`srv${i}`]: { rpm: i + 1 } } },
          headers: { 'content-type': 'application/merge-patch+json' },
        }),
      ),
    );
    for (const r of results) assert.equal(r.status, 200, r.text);
    const stored = await s.h.store.get('api_keys', id);
    const limits = obj(stored?.value.mcp_rate_limits);
    assert.equal(Object.keys(limits).length, 20, JSON.stringify(limits));
    for (let i = 0; i < 20; i++) assert.deepEqual(limits[`srv${i}`], { rpm: i + 1 });
    // Revisions of the 20 writes are distinct: each committed on top of the previous one.
    assert.equal(new Set(results.map((r) => obj(r.json).revision)).size, 20);
  });

  it('concurrent unconditional rotations and PATCHes: the last key stored is one that was returned', async () => {
    const { id } = await newKey();
    const results = await Promise.all([
      ...Array.from({ length: 5 }, () => s.admin.call('POST', `/admin/v1/api_keys/${id}/rotate`)),
      ...Array.from({ length: 5 }, (_, i) =>
        s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, { body: { allowed_models: [`m${i}-*`] } }),
      ),
    ]);
    for (const r of results) assert.equal(r.status, 200, r.text);
    const raw = await s.h.store.get('api_keys', id);
    const rotations = results.slice(0, 5).map((r) => obj(r.json));
    const last = rotations.reduce((a, b) =>
      Number(obj(a.entry).revision) > Number(obj(b.entry).revision) ? a : b,
    );
    assert.equal(raw?.value.key_hash, hashApiKey(String(last.plaintext)));
  });

  it('PATCH: merge patch semantics, validation of the result, and secrets kept', async () => {
    const pk = await s.admin.call('POST', '/admin/v1/provider_keys', {
      body: { display_name: 'pk-patch', api_key: 'sk-secret-abcd1234', provider: 'openai' },
    });
    assert.equal(pk.status, 200, pk.text);
    const pkId = String(obj(pk.json).id);
    const masked = obj(obj(pk.json).value).api_key;
    const r = await s.admin.call('PATCH', `/admin/v1/provider_keys/${pkId}`, {
      body: { display_name: 'pk-renamed', api_key: masked },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal((await s.h.store.get('provider_keys', pkId))?.value.api_key, 'sk-secret-abcd1234');
    assert.equal((await s.h.store.get('provider_keys', pkId))?.value.display_name, 'pk-renamed');
    const invalid = await s.admin.call('PATCH', `/admin/v1/provider_keys/${pkId}`, {
      body: { display_name: null },
    });
    assert.equal(invalid.status, 400, invalid.text);
    assert.match(String(obj(invalid.json).error_msg), /display_name/);
    const notObject = await s.admin.call('PATCH', `/admin/v1/provider_keys/${pkId}`, { body: ['x'] });
    assert.equal(notObject.status, 400);
    const proto = await s.admin.call('PATCH', `/admin/v1/provider_keys/${pkId}`, {
      raw: '{"__proto__": {"polluted": true}}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(proto.status, 400, proto.text);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((await s.admin.call('PATCH', '/admin/v1/provider_keys/nope', { body: {} })).status, 404);
  });
});
