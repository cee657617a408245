/**
 * Writes bigger than the store takes in one request (etcd's --max-request-bytes, 1.5 MiB, for
 * the document and its audit record together) are 413 on both stores, before anything is sent,
 * and the Admin API keeps serving at once (the etcd client's circuit breaker is not tripped).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeOnBothStores, obj } from './testing/harness.js';

/** A keyword guardrail whose JSON body is about `bytes` long. */
function guardrail(name: string, bytes: number): Record<string, unknown> {
  const value = 'w'.repeat(1000);
  const n = Math.floor(bytes / (value.length + 30));
  return { name, kind: 'keyword', patterns: Array.from({ length: n }, () => ({ kind: 'literal', value })) };
}

describeOnBothStores('write size bound', (s) => {
  it('a valid body just under the 2 MiB body limit: 413, nothing written, the API keeps answering', async () => {
    const body = guardrail('huge', 2 * 1024 * 1024 - 64 * 1024);
    assert.ok(JSON.stringify(body).length < 2 * 1024 * 1024);
    const t0 = Date.now();
    const r = await s.admin.call('POST', '/admin/v1/guardrails', { body });
    assert.equal(r.status, 413, r.text.slice(0, 300));
    assert.match(
      String(obj(r.json).error_msg),
      /^document too large to store: .*at most 1572864 bytes per write/,
    );
    assert.equal(await s.h.rawCount('guardrails'), 0);
    // At once, not ~5 s later: every call works.
    for (let i = 0; i < 5; i++) {
      const list = await s.admin.call('GET', '/admin/v1/guardrails');
      assert.equal(list.status, 200, list.text);
    }
    const small = await s.admin.call('POST', '/admin/v1/guardrails', { body: guardrail('small', 10_000) });
    assert.equal(small.status, 200, small.text);
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  });

  it('between etcd limit and the body limit (1.6 MiB) on create and replace: 413; 1.4 MiB works', async () => {
    const mid = await s.admin.call('POST', '/admin/v1/guardrails', { body: guardrail('mid', 1_650_000) });
    assert.equal(mid.status, 413, mid.text.slice(0, 300));
    const ok = await s.admin.call('POST', '/admin/v1/guardrails', { body: guardrail('fits', 1_400_000) });
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
    const id = String(obj(ok.json).id);
    const before = await s.h.store.get('guardrails', id);
    const put = await s.admin.call('PUT', `/admin/v1/guardrails/${id}`, {
      body: guardrail('fits', 1_650_000),
    });
    assert.equal(put.status, 413, put.text.slice(0, 300));
    assert.equal((await s.h.store.get('guardrails', id))?.revision, before?.revision);
  });
});
