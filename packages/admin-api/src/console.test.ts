/**
 * The admin web console as HTTP: the page and its assets come from this package with a CSP
 * that forbids inline code and other origins, cache headers that fit fingerprinted assets,
 * a manifest carrying the very schemas of the OpenAPI document, and the config status route
 * the console reads. (The console in a real browser: e2e/src/console.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KINDS } from '@aisix/core';
import { buildOpenApiDocument, componentSchemas } from './openapi.js';
import {
  embeddedStoreFactory,
  obj,
  type StoreHandle,
  startTestAdmin,
  type TestAdmin,
} from './testing/harness.js';

let h: StoreHandle;
let admin: TestAdmin;
let plain: TestAdmin;
const status = { state: 'in_sync', source: { type: 'embedded' }, applied: { config_hash: 'abc' } };
before(async () => {
  h = await embeddedStoreFactory();
  admin = await startTestAdmin({ store: h.store, statusJson: () => status });
  plain = await startTestAdmin({ store: h.store });
});
after(async () => {
  await admin?.close();
  await plain?.close();
  await h?.close();
});

function assetUrls(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '');
}

describe('console page', () => {
  it('is served without an admin key, with a strict CSP and no inline code', async () => {
    const r = await admin.call('GET', '/admin/console', { key: null });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
    const csp = r.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.match(csp, /connect-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.ok(!csp.includes('unsafe'), csp);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    // Every script has a src, no style element or attribute, no event-handler attribute.
    for (const m of r.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)) {
      assert.match(m[1] ?? '', /\ssrc="/);
      assert.equal(m[2], '');
    }
    assert.ok(!/<style|\sstyle=|\son[a-z]+=/i.test(r.text), r.text);
    const urls = assetUrls(r.text).filter((u) => u.startsWith('/admin/console/'));
    assert.equal(urls.length, 2, r.text);
    for (const u of urls) assert.match(u, /\?v=[0-9a-f]{16}$/);
  });

  it('revalidates with its ETag', async () => {
    const r = await admin.call('GET', '/admin/console', { key: null });
    const etag = r.headers.get('etag');
    assert.ok(etag);
    const again = await admin.call('GET', '/admin/console', {
      key: null,
      headers: { 'if-none-match': etag },
    });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');
    assert.equal(again.headers.get('etag'), etag);
  });
});

describe('console assets', () => {
  it('the fingerprinted script and stylesheet are cached for a year, other versions revalidate', async () => {
    const page = await admin.call('GET', '/admin/console', { key: null });
    for (const u of assetUrls(page.text).filter((x) => x.startsWith('/admin/console/'))) {
      const r = await admin.call('GET', u, { key: null });
      assert.equal(r.status, 200, u);
      assert.match(
        r.headers.get('content-type') ?? '',
        u.includes('.js') ? /^text\/javascript/ : /^text\/css/,
      );
      assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      // Nothing is fetched from another origin: no absolute URL in the shipped code.
      assert.ok(!/https?:\/\//.test(r.text), `${u} names an external URL`);
      const stale = await admin.call('GET', u.replace(/\?v=.*/, '?v=0000000000000000'), { key: null });
      assert.equal(stale.headers.get('cache-control'), 'no-cache');
      const bare = await admin.call('GET', u.replace(/\?v=.*/, ''), {
        key: null,
        headers: { 'if-none-match': r.headers.get('etag') ?? '' },
      });
      assert.equal(bare.status, 304);
    }
  });

  it('the manifest lists every kind with the OpenAPI document’s own schemas', async () => {
    const r = await admin.call('GET', '/admin/console/manifest.json', { key: null });
    assert.equal(r.status, 200);
    const m = obj(r.json);
    assert.deepEqual(m.schemas, componentSchemas(buildOpenApiDocument()));
    const kinds = m.kinds as Record<string, unknown>[];
    assert.deepEqual(
      kinds.map((k) => k.kind),
      KINDS.map((k) => k.kind),
    );
    const schemas = obj(m.schemas);
    for (const k of kinds) {
      assert.ok(schemas[String(k.type)], `schema ${String(k.type)}`);
      assert.ok(schemas[String(k.create_type)], `create schema ${String(k.create_type)}`);
    }
    const apiKeys = kinds.find((k) => k.kind === 'api_keys');
    assert.equal(apiKeys?.rotate, true);
    assert.equal(apiKeys?.create_type, 'ApiKeyCreate');
    assert.deepEqual(kinds.find((k) => k.kind === 'provider_keys')?.secret_paths, ['api_key', 'secret']);
  });
});

describe('GET /admin/v1/status/config', () => {
  it('answers the config sync status to an admin key', async () => {
    assert.equal((await admin.call('GET', '/admin/v1/status/config', { key: null })).status, 401);
    const r = await admin.call('GET', '/admin/v1/status/config');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, status);
  });

  it('answers 501 in the JSON envelope when no config sync is wired', async () => {
    const r = await plain.call('GET', '/admin/v1/status/config');
    assert.equal(r.status, 501);
    assert.match(String(obj(r.json).error_msg), /config status not wired/);
  });
});
