/**
 * `previous_keys` belongs to rotate (both stores): a create, PUT or PATCH may keep, shorten or
 * clear it but never add an entry or move an end time (400 at /previous_keys, pointing at the
 * rotate endpoint), and no hash of an api key (key_hash or previous) may be another api key's
 * (409), so one presented key can never authenticate as two api keys.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { hashApiKey } from '@aisix/core';
import { describeOnBothStores, obj } from './testing/harness.js';

describeOnBothStores('previous_keys on writes other than rotate', (s) => {
  async function newKey(): Promise<{ id: string; plaintext: string }> {
    const r = await s.admin.call('POST', '/admin/v1/api_keys', { body: { allowed_models: ['*'] } });
    assert.equal(r.status, 200, r.text);
    return { id: String(obj(r.json).id), plaintext: String(obj(r.json).plaintext) };
  }
  const stored = async (id: string) => (await s.h.store.get('api_keys', id))?.value ?? {};
  const errorOf = (r: { json: unknown }) => String(obj(r.json).error_msg);

  it("PATCH/PUT adding another live key's hash with a far expiry: 400 at /previous_keys, nothing written", async () => {
    const victim = await newKey();
    const mine = await newKey();
    const before = await s.h.store.get('api_keys', mine.id);
    const forged = [{ key_hash: hashApiKey(victim.plaintext), expires_at: '2099-01-01T00:00:00Z' }];
    const patch = await s.admin.call('PATCH', `/admin/v1/api_keys/${mine.id}`, {
      body: { previous_keys: forged },
    });
    assert.equal(patch.status, 400, patch.text);
    assert.match(errorOf(patch), /at \/previous_keys:/);
    assert.match(errorOf(patch), /\/rotate/);
    const put = await s.admin.call('PUT', `/admin/v1/api_keys/${mine.id}`, {
      body: { allowed_models: ['*'], previous_keys: forged },
    });
    assert.equal(put.status, 400, put.text);
    assert.match(errorOf(put), /at \/previous_keys:/);
    assert.deepEqual(await s.h.store.get('api_keys', mine.id), before);
    // After the other key is gone its plaintext still authenticates as nothing here.
    assert.equal((await s.admin.call('DELETE', `/admin/v1/api_keys/${victim.id}`)).status, 200);
    assert.equal((await stored(mine.id)).previous_keys, undefined);
  });

  it('a create may not bring previous_keys either', async () => {
    const r = await s.admin.call('POST', '/admin/v1/api_keys', {
      body: {
        allowed_models: ['*'],
        previous_keys: [{ key_hash: hashApiKey('sk-made-up'), expires_at: '2099-01-01T00:00:00Z' }],
      },
    });
    assert.equal(r.status, 400, r.text);
    assert.match(errorOf(r), /at \/previous_keys:/);
  });

  it('moving the end of a running window is refused; keeping, shortening and clearing work', async () => {
    const { id } = await newKey();
    for (let i = 0; i < 3; i++) {
      const r = await s.admin.call('POST', `/admin/v1/api_keys/${id}/rotate`, { body: { grace_secs: 600 } });
      assert.equal(r.status, 200, r.text);
    }
    const prev = (await stored(id)).previous_keys as { key_hash: string; expires_at: string }[];
    assert.equal(prev.length, 3);
    const moved = prev.map((p, i) => (i === 0 ? { ...p, expires_at: '2099-01-01T00:00:00Z' } : p));
    const bad = await s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, { body: { previous_keys: moved } });
    assert.equal(bad.status, 400, bad.text);
    const dup = await s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, {
      body: { previous_keys: [prev[0], prev[0]] },
    });
    assert.equal(dup.status, 400, dup.text);
    // Sent back as read (a read-modify-write round trip): kept.
    const same = await s.admin.call('PUT', `/admin/v1/api_keys/${id}`, {
      body: { allowed_models: ['a-*'], previous_keys: prev },
    });
    assert.equal(same.status, 200, same.text);
    const shorter = await s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, {
      body: { previous_keys: [prev[2], prev[0]] },
    });
    assert.equal(shorter.status, 200, shorter.text);
    assert.deepEqual((await stored(id)).previous_keys, [prev[2], prev[0]]);
    const cleared = await s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, {
      body: { previous_keys: null },
    });
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal((await stored(id)).previous_keys, undefined);
  });

  it("a key_hash that is another key's previous key (in its grace window): 409", async () => {
    const a = await newKey();
    const rot = await s.admin.call('POST', `/admin/v1/api_keys/${a.id}/rotate`, {
      body: { grace_secs: 600 },
    });
    assert.equal(rot.status, 200, rot.text);
    // a's old plaintext still authenticates as a for 10 minutes: no other key may take it.
    const create = await s.admin.call('POST', '/admin/v1/api_keys', {
      body: { key_hash: hashApiKey(a.plaintext), allowed_models: ['*'] },
    });
    assert.equal(create.status, 409, create.text);
    assert.match(errorOf(create), /key hash at \/key_hash is already in use by another api key/);
    const b = await newKey();
    const put = await s.admin.call('PUT', `/admin/v1/api_keys/${b.id}`, {
      body: { key_hash: hashApiKey(a.plaintext), allowed_models: ['*'] },
    });
    assert.equal(put.status, 409, put.text);
  });

  it('a previous key written directly that clashes with another key: the write is refused until it is removed', async () => {
    const a = await newKey();
    const id = 'direct-previous-clash';
    await s.h.putRaw(
      'api_keys',
      id,
      JSON.stringify({
        key_hash: hashApiKey('sk-direct-own-key'),
        allowed_models: ['*'],
        previous_keys: [{ key_hash: hashApiKey(a.plaintext), expires_at: '2099-01-01T00:00:00Z' }],
      }),
    );
    const r = await s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, { body: { disabled: true } });
    assert.equal(r.status, 409, r.text);
    assert.match(errorOf(r), /\/previous_keys\/0/);
    const fixed = await s.admin.call('PATCH', `/admin/v1/api_keys/${id}`, {
      body: { disabled: true, previous_keys: [] },
    });
    assert.equal(fixed.status, 200, fixed.text);
  });
});
