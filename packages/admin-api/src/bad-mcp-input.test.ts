/**
 * Malformed `mcp_servers` over real HTTP (control-plane §3.10, §4.2): an upstream `url` or OAuth
 * `token_url` the gateway could never reach (not an absolute http(s) URL) gets 400 with
 * `schema validation failed at <pointer>: ...` naming the field, instead of a stored server whose
 * tools silently never appear. Nothing is stored and no submitted value is echoed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminOnStore, arr, embeddedStoreFactory, obj } from './testing/harness.js';

const LEAK = 'LEAKME';
const s = adminOnStore(embeddedStoreFactory);

const base = { name: 'github', url: 'https://mcp.example.com/mcp' };
const oauth = {
  ...base,
  auth_type: 'oauth2',
  secret: 'client-secret',
  client_id: 'gw',
  token_url: 'https://auth.example.com/token',
};

const CASES: { label: string; doc: Record<string, unknown>; pointer: string }[] = [
  { label: 'url without a scheme', doc: { ...base, url: `${LEAK}.example.com/mcp` }, pointer: '/url' },
  { label: 'url that is not a URL', doc: { ...base, url: `not a ${LEAK} url` }, pointer: '/url' },
  {
    label: 'url with a non-http scheme',
    doc: { ...base, url: `ftp://${LEAK}.example.com/mcp` },
    pointer: '/url',
  },
  {
    label: 'openapi base url without a scheme',
    doc: {
      ...base,
      type: 'openapi',
      url: `${LEAK}.example.com/api`,
      spec: { openapi: '3.0.3', paths: { '/a': { get: { operationId: 'a' } } } },
    },
    pointer: '/url',
  },
  {
    label: 'oauth2 token_url without a scheme',
    doc: { ...oauth, token_url: `${LEAK}.example.com/token` },
    pointer: '/token_url',
  },
];

describe('mcp_servers: unreachable URLs get 400 naming the field', () => {
  for (const c of CASES) {
    it(c.label, async () => {
      const r = await s.admin.call('POST', '/admin/v1/mcp_servers', { body: c.doc });
      assert.equal(r.status, 400, r.text);
      const msg = String(obj(r.json).error_msg);
      assert.match(msg, new RegExp(`^schema validation failed at ${c.pointer}: .*http`));
      assert.ok(!r.text.includes(LEAK), `no echo: ${r.text}`);
    });
  }

  it('nothing was stored; http and https URLs are accepted', async () => {
    assert.equal(arr((await s.admin.call('GET', '/admin/v1/mcp_servers')).json).length, 0);
    for (const doc of [base, { ...oauth, name: 'local', url: 'http://127.0.0.1:8080/mcp' }]) {
      const r = await s.admin.call('POST', '/admin/v1/mcp_servers', { body: doc });
      assert.equal(r.status, 200, r.text);
    }
  });
});
