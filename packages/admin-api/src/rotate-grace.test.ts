/**
 * Rotation with a grace window on the Admin API (embedded store): the replaced hash is kept in
 * `previous_keys` with an absolute end, chained rotations keep every live window, a rotation
 * without grace ends them all, a PUT that omits `previous_keys` keeps them, and bad rotate
 * bodies get a 400 in the envelope without writing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashApiKey } from '@aisix/core';
import { adminOnStore, embeddedStoreFactory, obj } from './testing/harness.js';

const s = adminOnStore(embeddedStoreFactory);

async function newKey(): Promise<{ id: string; plaintext: string }> {
  const r = await s.admin.call('POST', '/admin/v1/api_keys', { body: { allowed_models: ['*'] } });
  assert.equal(r.status, 200, r.text);
  return { id: String(obj(r.json).id), plaintext: String(obj(r.json).plaintext) };
}

async function rotate(id: string, body?: unknown) {
  const r = await s.admin.call('POST', `/admin/v1/api_keys/${id}/rotate`, body === undefined ? {} : { body });
  assert.equal(r.status, 200, r.text);
  return { plaintext: String(obj(r.json).plaintext), entry: obj(obj(r.json).entry) };
}

const stored = async (id: string) => (await s.h.store.get('api_keys', id))?.value ?? {};

describe('rotate with grace_secs', () => {
  it('keeps the replaced hash until now + grace; the entry shows it', async () => {
    const { id, plaintext: first } = await newKey();
    const t0 = Date.now();
    const r = await rotate(id, { grace_secs: 600 });
    const prev = obj(r.entry.value).previous_keys;
    assert.ok(Array.isArray(prev) && prev.length === 1, JSON.stringify(r.entry));
    const p = obj(prev[0]);
    assert.equal(p.key_hash, hashApiKey(first));
    const end = Date.parse(String(p.expires_at));
    assert.ok(end >= t0 + 600_000 && end <= Date.now() + 600_000, String(p.expires_at));
    assert.equal((await stored(id)).key_hash, hashApiKey(r.plaintext));
  });

  it('chained rotations keep every live window; one without grace ends them all', async () => {
    const { id, plaintext: k0 } = await newKey();
    const r1 = await rotate(id, { grace_secs: 300 });
    const r2 = await rotate(id, { grace_secs: 60 });
    const prev = (await stored(id)).previous_keys as { key_hash: string }[];
    assert.deepEqual(prev.map((x) => x.key_hash).sort(), [hashApiKey(k0), hashApiKey(r1.plaintext)].sort());
    const r3 = await rotate(id);
    const v = await stored(id);
    assert.equal(v.previous_keys, undefined);
    assert.equal(v.key_hash, hashApiKey(r3.plaintext));
    assert.notEqual(r2.plaintext, r3.plaintext);
    // grace_secs 0 is the same as no body.
    await rotate(id, { grace_secs: 120 });
    await rotate(id, { grace_secs: 0 });
    assert.equal((await stored(id)).previous_keys, undefined);
  });

  it('a PUT that omits previous_keys keeps the window; previous_keys: [] ends it', async () => {
    const { id } = await newKey();
    await rotate(id, { grace_secs: 600 });
    const put = await s.admin.call('PUT', `/admin/v1/api_keys/${id}`, { body: { allowed_models: ['a-*'] } });
    assert.equal(put.status, 200, put.text);
    assert.equal(((await stored(id)).previous_keys as unknown[]).length, 1);
    const end = await s.admin.call('PUT', `/admin/v1/api_keys/${id}`, {
      body: { allowed_models: ['a-*'], previous_keys: [] },
    });
    assert.equal(end.status, 200, end.text);
    assert.deepEqual((await stored(id)).previous_keys, []);
  });

  it('bad rotate bodies are 400/415 in the envelope and rotate nothing', async () => {
    const { id } = await newKey();
    const before = await stored(id);
    const cases: [unknown, RegExp][] = [
      [{ grace_secs: -1 }, /\/grace_secs/],
      [{ grace_secs: 1.5 }, /\/grace_secs/],
      [{ grace_secs: '60' }, /\/grace_secs/],
      [{ grace_secs: 30 * 24 * 3600 + 1 }, /\/grace_secs/],
      [{ grace: 60 }, /unknown field `grace`/],
      [[60], /JSON object/],
    ];
    for (const [body, msg] of cases) {
      const r = await s.admin.call('POST', `/admin/v1/api_keys/${id}/rotate`, { body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.match(String(obj(r.json).error_msg), msg);
    }
    const text = await s.admin.call('POST', `/admin/v1/api_keys/${id}/rotate`, {
      raw: 'grace_secs=60',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(text.status, 415);
    assert.deepEqual(await stored(id), before);
  });
});
