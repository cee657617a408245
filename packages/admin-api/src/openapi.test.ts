/**
 * The OpenAPI document: valid 3.1 shape, generated from the valibot schemas, every live
 * route documented, and every documented operation answered by the live server (probed
 * without credentials, so admin routes answer 401 and nothing is written).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { KINDS, kindByName } from '@aisix/core';
import { pino } from 'pino';
import { createAdminApp } from './app.js';
import { type JsonObject, openApiPath } from './openapi.js';
import { adminOnStore, embeddedStoreFactory, obj } from './testing/harness.js';

let doc: JsonObject;
const s = adminOnStore(embeddedStoreFactory, {}, async () => {
  const r = await s.admin.call('GET', '/admin/openapi.json', { key: null });
  assert.equal(r.status, 200);
  doc = obj(r.json);
});

const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

it('is an OpenAPI 3.1.0 document whose refs resolve and operation ids are unique', () => {
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(typeof obj(doc.info).title, 'string');
  const paths = obj(doc.paths);
  assert.ok(Object.keys(paths).length > 0);
  const ids = new Set<string>();
  for (const item of Object.values(paths)) {
    for (const [m, op] of Object.entries(obj(item))) {
      assert.ok(METHODS.includes(m), m);
      const o = obj(op);
      assert.ok(obj(o.responses)['200'], `${m} has a 200 response`);
      const id = String(o.operationId);
      assert.ok(!ids.has(id), `duplicate operationId ${id}`);
      ids.add(id);
    }
  }
  const schemas = obj(obj(doc.components).schemas);
  const text = JSON.stringify(doc);
  for (const m of text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
    assert.ok(schemas[m[1] ?? ''] !== undefined, `dangling $ref ${m[1]}`);
  }
});

it('resource schemas come from the valibot write schemas', () => {
  const schemas = obj(obj(doc.components).schemas);
  const pk = kindByName('provider_keys');
  const ak = kindByName('api_keys');
  assert.ok(pk && ak);
  const pkSchema = obj(schemas[pk.typeName]);
  assert.ok(JSON.stringify(pkSchema).includes('display_name'));
  for (const k of KINDS) assert.ok(schemas[k.typeName], `schema for ${k.kind}`);
  // The api-key create body makes key_hash optional (the server can generate the key).
  // (The top-level `required` lists: nested objects such as previous_keys[] require their own key_hash.)
  const create = obj(schemas[`${ak.typeName}Create`]);
  const full = obj(schemas[ak.typeName]);
  assert.ok((full.required as string[]).includes('key_hash'));
  assert.ok(!(create.required as string[]).includes('key_hash'), JSON.stringify(create.required));
  assert.ok((create.required as string[]).includes('allowed_models'));
});

it('every live route is documented', () => {
  const app = createAdminApp({
    store: s.h.store,
    adminKeys: ['k'],
    mode: { type: 'embedded' },
    logger: pino({ enabled: false }),
  });
  const paths = obj(doc.paths);
  const live = app.routes.filter((r) => r.method !== 'ALL');
  assert.ok(live.length > 50, `expected every kind's routes, got ${live.length}`);
  for (const r of live) {
    const item = paths[openApiPath(r.path)];
    assert.ok(item, `undocumented path ${r.path}`);
    assert.ok(obj(item)[r.method.toLowerCase()], `undocumented ${r.method} ${r.path}`);
  }
  // Every kind in the table is served, aliases included.
  for (const k of KINDS) {
    for (const c of [k.adminPath, ...k.adminAliases]) assert.ok(paths[`/admin/v1/${c}/{id}`], c);
  }
});

it('every documented operation answers on the live server', async () => {
  for (const [path, item] of Object.entries(obj(doc.paths))) {
    for (const method of Object.keys(obj(item))) {
      const url = path.replace('{id}', '00000000-0000-4000-8000-000000000000');
      const r = await s.admin.call(method.toUpperCase(), url, { key: null });
      assert.notEqual(r.status, 405, `${method} ${path}`);
      assert.ok(r.status !== 404, `${method} ${path} -> 404 ${r.text}`);
      const op = obj(obj(item)[method]);
      if (Array.isArray(op.security) && op.security.length > 0)
        assert.equal(r.status, 401, `${method} ${path}`);
    }
  }
  for (const k of KINDS) assert.equal(await s.h.rawCount(k.kind), 0);
});

it('the scalar page is self-contained HTML listing the routes', async () => {
  const r = await s.admin.call('GET', '/admin/openapi-scalar', { key: null });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /text\/html/);
  assert.ok(r.text.includes('/admin/openapi.json'));
  assert.ok(r.text.includes('POST /admin/v1/api_keys/{id}/rotate'));
});
