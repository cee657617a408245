/**
 * Values a direct writer (`etcdctl put`, a CI job) stored under a resource key, on both stores.
 *
 * A value that is not a JSON document: the key exists, so it is not "absent" (control-plane
 * §2.4 / §4.4: DELETE deletes the key, PUT replaces an existing key). DELETE removes it, PUT
 * with a valid body replaces it, GET answers 409 naming the problem (never the stored bytes,
 * which may be a credential), PATCH and rotate (which build on the stored document) answer the
 * same 409, and a list leaves it out with a warning.
 *
 * A JSON document that fails validation: GET shows it (masked) so it can be fixed, a list
 * leaves it out with one warning per key (§2.4: "skipped with a warning"), and a secret field
 * of any type is masked (decision 10), never returned as stored.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { arr, createProviderKey, describeOnBothStores, obj } from './testing/harness.js';

/** Not JSON, and shaped like a credential: must never be quoted back or logged. */
const RAW = 'sk-raw-garbage-0123456789';
const NUMERIC_SECRET = 12345678901234;

interface LogLine {
  level: number;
  msg: string;
  key?: string;
  reason?: string;
}
const WARN = 40;

describeOnBothStores('direct writes', (s) => {
  let pk: string;
  before(async () => {
    pk = await createProviderKey(s.admin);
  });

  const model = (displayName: string) => ({
    display_name: displayName,
    provider: 'openai',
    model_name: 'gpt-4o',
    provider_key_id: pk,
  });
  const warnings = (): LogLine[] =>
    s.admin.logs.map((l) => JSON.parse(l) as LogLine).filter((l) => l.level === WARN);

  it('a value that is not JSON: GET is a 409 naming the problem, never the bytes', async () => {
    const rev = await s.h.putRaw('models', 'bad1', RAW);
    const g = await s.admin.call('GET', '/admin/v1/models/bad1');
    assert.equal(g.status, 409, g.text);
    assert.equal(
      obj(g.json).error_msg,
      'models/bad1 holds a value that is not a JSON document (value is not valid JSON); ' +
        'replace it with PUT or remove it with DELETE',
    );
    assert.equal(g.headers.get('etag'), `"${rev}"`, 'the ETag lets a PUT or DELETE use If-Match');
    for (const [id, value] of [
      ['bad1a', '[1,2]'],
      ['bad1b', 'null'],
    ] as const) {
      await s.h.putRaw('models', id, value);
      const r = await s.admin.call('GET', `/admin/v1/models/${id}`);
      assert.equal(r.status, 409, `${id}: ${r.text}`);
      assert.match(String(obj(r.json).error_msg), /\(value is not a JSON object\)/);
      assert.equal((await s.admin.call('DELETE', `/admin/v1/models/${id}`)).status, 200);
    }
    // PATCH and rotate start from the stored document: there is none to start from.
    const p = await s.admin.call('PATCH', '/admin/v1/models/bad1', { body: { model_name: 'x' } });
    assert.equal(p.status, 409, p.text);
    await s.h.putRaw('api_keys', 'badkey', RAW);
    const rot = await s.admin.call('POST', '/admin/v1/api_keys/badkey/rotate');
    assert.equal(rot.status, 409, rot.text);
    assert.equal((await s.admin.call('DELETE', '/admin/v1/api_keys/badkey')).status, 200);
    assert.equal(await s.h.rawCount('api_keys'), 0);
  });

  it('a document nested thousands of levels deep is no document: 409, never a 500', async () => {
    // Valid JSON, but no step that handles a document (masking, merge patch, validation) could
    // walk it without overflowing the stack.
    const deep = `{"display_name":"deep","extra":${'{"a":['.repeat(5000)}1${']}'.repeat(5000)}}`;
    await s.h.putRaw('models', 'deep1', deep);
    const msg =
      'models/deep1 holds a value that is not a JSON document (value is nested deeper than 128 levels); ' +
      'replace it with PUT or remove it with DELETE';
    const g = await s.admin.call('GET', '/admin/v1/models/deep1');
    assert.equal(g.status, 409, g.text);
    assert.equal(obj(g.json).error_msg, msg);
    const p = await s.admin.call('PATCH', '/admin/v1/models/deep1', { body: { display_name: 'x' } });
    assert.equal(p.status, 409, p.text);
    const l = await s.admin.call('GET', '/admin/v1/models');
    assert.equal(l.status, 200, l.text);
    assert.ok(!arr(l.json).some((e) => obj(e).id === 'deep1'));
    const put = await s.admin.call('PUT', '/admin/v1/models/deep1', { body: model('deep-fixed') });
    assert.equal(put.status, 200, put.text);
    await s.h.putRaw('models', 'deep1', deep);
    assert.equal((await s.admin.call('DELETE', '/admin/v1/models/deep1')).status, 200);
    // 128 levels still decode (and are judged by the schema): GET shows the document.
    await s.h.putRaw(
      'models',
      'deep2',
      `{"display_name":"d2","extra":${'{"a":'.repeat(127)}1${'}'.repeat(127)}}`,
    );
    assert.equal((await s.admin.call('GET', '/admin/v1/models/deep2')).status, 200);
    assert.equal((await s.admin.call('DELETE', '/admin/v1/models/deep2')).status, 200);
  });

  it('a value that is not JSON: PUT with a valid body replaces it', async () => {
    await s.h.putRaw('models', 'bad2', RAW);
    const put = await s.admin.call('PUT', '/admin/v1/models/bad2', { body: model('repaired') });
    assert.equal(put.status, 200, put.text);
    assert.equal(obj(put.json).id, 'bad2');
    const g = await s.admin.call('GET', '/admin/v1/models/bad2');
    assert.equal(g.status, 200, g.text);
    assert.equal(obj(obj(g.json).value).display_name, 'repaired');
    assert.equal(obj(g.json).revision, obj(put.json).revision);
    // The write is audited like any replace (the stored value had no fields to diff).
    const audit = await s.admin.call('GET', '/admin/v1/audit?kind=models&id=bad2');
    assert.equal(obj(arr(obj(audit.json).records)[0]).action, 'replace');
    // An invalid body is still refused, and leaves the bad value in place.
    const rev = await s.h.putRaw('models', 'bad2', RAW);
    const bad = await s.admin.call('PUT', '/admin/v1/models/bad2', { body: { display_name: 'x' } });
    assert.equal(bad.status, 400, bad.text);
    assert.equal((await s.admin.call('GET', '/admin/v1/models/bad2')).status, 409);
    // If-Match takes the revision the 409 named.
    const stale = await s.admin.call('PUT', '/admin/v1/models/bad2', {
      body: model('repaired'),
      headers: { 'if-match': `"${rev - 1}"` },
    });
    assert.equal(stale.status, 412, stale.text);
    const ok = await s.admin.call('PUT', '/admin/v1/models/bad2', {
      body: model('repaired'),
      headers: { 'if-match': `"${rev}"` },
    });
    assert.equal(ok.status, 200, ok.text);
  });

  it('a value that is not JSON: DELETE removes the key', async () => {
    await s.h.putRaw('models', 'bad3', RAW);
    const before = await s.h.rawCount('models');
    const d = await s.admin.call('DELETE', '/admin/v1/models/bad3');
    assert.equal(d.status, 200, d.text);
    assert.deepEqual(d.json, { deleted: true, id: 'bad3' });
    assert.equal(await s.h.rawCount('models'), before - 1, 'the key is gone from the store');
    assert.equal((await s.admin.call('GET', '/admin/v1/models/bad3')).status, 404);
    assert.equal((await s.admin.call('DELETE', '/admin/v1/models/bad3')).status, 404);
    // With If-Match, at the revision the value is at.
    const rev = await s.h.putRaw('models', 'bad3', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
    const d2 = await s.admin.call('DELETE', '/admin/v1/models/bad3', { headers: { 'if-match': `"${rev}"` } });
    assert.equal(d2.status, 200, d2.text);
    assert.equal((await s.admin.call('GET', '/admin/v1/models/bad3')).status, 404);
  });

  it('a document that fails validation: GET shows it, a list skips it with one warning per key', async () => {
    await s.admin.call('POST', '/admin/v1/models', { body: model('listed') });
    await s.h.putRaw('models', 'inv1', JSON.stringify({ display_name: 'inv1', provider: 'openai' }));
    await s.h.putRaw('models', 'nj1', RAW);
    const g = await s.admin.call('GET', '/admin/v1/models/inv1');
    assert.equal(g.status, 200, g.text);
    assert.equal(obj(obj(g.json).value).display_name, 'inv1');

    const seen = warnings().length;
    const list = await s.admin.call('GET', '/admin/v1/models');
    assert.equal(list.status, 200, list.text);
    const ids = arr(list.json).map((e) => obj(e).id);
    assert.ok(ids.length > 0 && !ids.includes('inv1') && !ids.includes('nj1'), String(ids));
    const fresh = warnings().slice(seen);
    const inv = fresh.filter((l) => l.key === 'models/inv1');
    const nj = fresh.filter((l) => l.key === 'models/nj1');
    assert.equal(inv.length, 1, JSON.stringify(fresh));
    assert.equal(nj.length, 1, JSON.stringify(fresh));
    assert.match(String(inv[0]?.reason), /model_name/);
    assert.equal(nj[0]?.reason, 'value is not valid JSON');
    assert.deepEqual(
      fresh.map((l) => l.key),
      [...new Set(fresh.map((l) => l.key))],
      'one warning per skipped key',
    );
    assert.ok(!s.admin.logs.some((l) => l.includes(RAW)), 'the raw value is never logged');
    await s.admin.call('DELETE', '/admin/v1/models/inv1');
    await s.admin.call('DELETE', '/admin/v1/models/nj1');
  });

  it('a secret that is not a string is masked entirely on every read', async () => {
    const doc = { display_name: 'directbad', api_key: NUMERIC_SECRET, provider: 'openai' };
    await s.h.putRaw('provider_keys', 'pkbad', JSON.stringify(doc));
    await s.h.putRaw(
      'observability_exporters',
      'exbad',
      JSON.stringify({ name: 'exbad', kind: 'otlp_http', headers: { authorization: NUMERIC_SECRET } }),
    );
    const g = await s.admin.call('GET', '/admin/v1/provider_keys/pkbad');
    assert.equal(g.status, 200, g.text);
    assert.equal(obj(obj(g.json).value).api_key, '****');
    const e = await s.admin.call('GET', '/admin/v1/observability_exporters/exbad');
    assert.equal(e.status, 200, e.text);
    assert.deepEqual(obj(obj(e.json).value).headers, { authorization: '****' });
    await s.admin.call('GET', '/admin/v1/provider_keys');
    await s.admin.call('GET', '/admin/v1/observability_exporters');
    // Sending the mask back keeps the stored value (decision 10), which still fails validation:
    // the mask is never stored as the credential.
    const back = await s.admin.call('PUT', '/admin/v1/provider_keys/pkbad', {
      body: { display_name: 'directbad', api_key: '****', provider: 'openai' },
    });
    assert.equal(back.status, 400, back.text);
    assert.equal(
      obj(obj((await s.admin.call('GET', '/admin/v1/provider_keys/pkbad')).json).value).api_key,
      '****',
    );
    const stored = await s.h.store.get('provider_keys', 'pkbad');
    assert.equal(stored?.value.api_key, NUMERIC_SECRET);

    for (const text of [...s.admin.bodies, ...s.admin.logs]) {
      assert.ok(!text.includes(String(NUMERIC_SECRET)), `secret in ${text.slice(0, 200)}`);
    }
    const fixed = await s.admin.call('PUT', '/admin/v1/provider_keys/pkbad', {
      body: { display_name: 'directbad', api_key: 'sk-fixed-000011112222', provider: 'openai' },
    });
    assert.equal(fixed.status, 200, fixed.text);
    assert.equal(obj(obj(fixed.json).value).api_key, '****2222');
  });
});
