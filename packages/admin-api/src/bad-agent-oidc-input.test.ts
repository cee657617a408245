/**
 * URLs the gateway calls, on both stores (control-plane §3.11, §4.2; agents-and-jobs §3, §4.3):
 * an `a2a_agents.url`, an `oidc_providers.jwks_uri`, and an `issuer` that OIDC discovery would
 * start from (no `jwks_uri`) must be absolute http(s) URLs. Anything else gets 400
 * `schema validation failed at <pointer>: ...` naming the field, with nothing stored and no
 * submitted value echoed. A document already stored with such a value still loads.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { arr, describeOnBothStores, obj } from './testing/harness.js';

const LEAK = 'LEAKME';

const agent = { name: 'planner', url: 'https://agents.example.com/planner' };
const oidc = { name: 'okta', issuer: 'https://okta.example.com', audiences: ['aisix'] };

const CASES: { label: string; kind: string; doc: Record<string, unknown>; pointer: string }[] = [
  {
    label: 'agent url without a scheme',
    kind: 'a2a_agents',
    doc: { ...agent, url: `${LEAK}.example.com/a` },
    pointer: '/url',
  },
  {
    label: 'agent url that is not a URL',
    kind: 'a2a_agents',
    doc: { ...agent, url: `not a ${LEAK} url` },
    pointer: '/url',
  },
  {
    label: 'agent url with a non-http scheme',
    kind: 'a2a_agents',
    doc: { ...agent, url: `ftp://${LEAK}.example.com/a` },
    pointer: '/url',
  },
  {
    label: 'oidc jwks_uri without a scheme',
    kind: 'oidc_providers',
    doc: { ...oidc, jwks_uri: `${LEAK}.example.com/keys` },
    pointer: '/jwks_uri',
  },
  {
    label: 'oidc jwks_uri with a non-http scheme',
    kind: 'oidc_providers',
    doc: { ...oidc, jwks_uri: `file:///${LEAK}/keys.json` },
    pointer: '/jwks_uri',
  },
  {
    label: 'oidc issuer not a URL and no jwks_uri',
    kind: 'oidc_providers',
    doc: { ...oidc, issuer: `${LEAK}-idp` },
    pointer: '/issuer',
  },
];

describeOnBothStores('a2a_agents and oidc_providers: URLs the gateway calls', (s) => {
  for (const c of CASES) {
    it(`${c.label}: 400 at ${c.pointer}`, async () => {
      const r = await s.admin.call('POST', `/admin/v1/${c.kind}`, { body: c.doc });
      assert.equal(r.status, 400, r.text);
      assert.match(
        String(obj(r.json).error_msg),
        new RegExp(`^schema validation failed at ${c.pointer}: .*http`),
      );
      assert.ok(!r.text.includes(LEAK), `no echo: ${r.text}`);
    });
  }

  it('nothing was stored; http(s) URLs, and a plain issuer with a jwks_uri, are accepted', async () => {
    assert.equal(await s.h.rawCount('a2a_agents'), 0);
    assert.equal(await s.h.rawCount('oidc_providers'), 0);
    for (const [kind, doc] of [
      ['a2a_agents', agent],
      ['a2a_agents', { ...agent, name: 'local', url: 'http://127.0.0.1:8080/a2a' }],
      ['oidc_providers', oidc],
      [
        'oidc_providers',
        { ...oidc, name: 'dev', issuer: 'http://127.0.0.1:9000', jwks_uri: 'http://127.0.0.1:9000/k' },
      ],
      // RFC 7519: `iss` is a StringOrURI; with jwks_uri set no discovery is needed.
      [
        'oidc_providers',
        { ...oidc, name: 'k8s', issuer: 'kubernetes/serviceaccount', jwks_uri: 'https://k8s.example/keys' },
      ],
    ] as const) {
      const r = await s.admin.call('POST', `/admin/v1/${kind}`, { body: doc });
      assert.equal(r.status, 200, r.text);
    }
  });

  it('PUT with a bad URL is refused and leaves the stored document as it was', async () => {
    const list = arr((await s.admin.call('GET', '/admin/v1/a2a_agents')).json);
    const id = String(obj(list[0]).id);
    const before = await s.h.store.get('a2a_agents', id);
    const r = await s.admin.call('PUT', `/admin/v1/a2a_agents/${id}`, {
      body: { ...agent, url: 'agents.example.com' },
    });
    assert.equal(r.status, 400, r.text);
    assert.match(String(obj(r.json).error_msg), /^schema validation failed at \/url: /);
    assert.deepEqual(await s.h.store.get('a2a_agents', id), before);
  });

  it('a document stored earlier with such a URL still loads', async () => {
    await s.h.putRaw('a2a_agents', 'old-agent', JSON.stringify({ name: 'old', url: 'agents.internal/rpc' }));
    await s.h.putRaw(
      'oidc_providers',
      'old-idp',
      JSON.stringify({ name: 'old', issuer: 'idp', audiences: ['a'] }),
    );
    const a = await s.admin.call('GET', '/admin/v1/a2a_agents/old-agent');
    assert.equal(a.status, 200, a.text);
    assert.equal(obj(obj(a.json).value).url, 'agents.internal/rpc');
    const o = await s.admin.call('GET', '/admin/v1/oidc_providers/old-idp');
    assert.equal(o.status, 200, o.text);
    assert.equal(obj(obj(o.json).value).issuer, 'idp');
  });
});
