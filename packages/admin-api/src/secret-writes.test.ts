/**
 * Secrets and aliases on PUT and PATCH, on both stores:
 *  - the mask is never stored as the credential: a mask-shaped value with no stored secret
 *    behind it (the write switches `kind`, or the field did not exist) is a 400 naming the field;
 *  - a PATCH `null` removes a secret (RFC 7396), then validation judges the document;
 *  - a PATCH under an input alias (`secret`, `display_name`) replaces the canonical field.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createProviderKey, describeOnBothStores, obj, type StoreHandle } from './testing/harness.js';

const BEDROCK = {
  name: 'br',
  kind: 'bedrock',
  region: 'us-east-1',
  guardrail_id: 'gr1',
  guardrail_version: '1',
  aws_credentials: {
    kind: 'static',
    access_key_id: 'AKIAEXAMPLE',
    secret_access_key: 'aws-secret-000009876',
  },
  latency_mode: { kind: 'serial' },
};
const LAKERA_KEY = 'lk-live-credential-9876';

describeOnBothStores('secret and alias writes', (s) => {
  let n = 0;

  async function create(path: string, body: Record<string, unknown>): Promise<string> {
    const r = await s.admin.call('POST', `/admin/v1/${path}`, { body });
    assert.equal(r.status, 200, r.text);
    return String(obj(r.json).id);
  }
  const stored = async (kind: Parameters<StoreHandle['store']['get']>[0], id: string) =>
    (await s.h.store.get(kind, id))?.value ?? {};
  const errorOf = (r: { json: unknown }) => String(obj(r.json).error_msg);

  describe('a mask is never stored as the credential', () => {
    it('PATCH that switches kind with a masked api_key: 400 at /api_key, nothing stored', async () => {
      const id = await create('guardrails', { ...BEDROCK, name: `br-${n++}` });
      const before = await s.h.store.get('guardrails', id);
      const r = await s.admin.call('PATCH', `/admin/v1/guardrails/${id}`, {
        body: { kind: 'lakera', api_key: '****9876' },
      });
      assert.equal(r.status, 400, r.text);
      assert.match(errorOf(r), /at \/api_key: is a masked value/);
      assert.match(errorOf(r), /send the secret itself/);
      assert.deepEqual(await s.h.store.get('guardrails', id), before);
    });

    it('PUT that switches kind with a masked api_key: 400 at /api_key', async () => {
      const id = await create('guardrails', { name: `lk-${n++}`, kind: 'lakera', api_key: LAKERA_KEY });
      const r = await s.admin.call('PUT', `/admin/v1/guardrails/${id}`, {
        body: { name: 'lk-switched', kind: 'openai_moderation', api_key: '****9876' },
      });
      assert.equal(r.status, 400, r.text);
      assert.match(errorOf(r), /at \/api_key: is a masked value/);
      assert.equal((await stored('guardrails', id)).api_key, LAKERA_KEY);
    });

    it('a mask for a secret that was never stored: 400 (PUT and PATCH, nested and maps too)', async () => {
      const id = await create('a2a_agents', { name: `ag-${n++}`, url: 'http://127.0.0.1:9/a2a' });
      const put = await s.admin.call('PUT', `/admin/v1/a2a_agents/${id}`, {
        body: { name: 'ag-x', url: 'http://127.0.0.1:9/a2a', auth_type: 'bearer', secret: '****' },
      });
      assert.equal(put.status, 400, put.text);
      assert.match(errorOf(put), /at \/secret: is a masked value/);
      const patch = await s.admin.call('PATCH', `/admin/v1/a2a_agents/${id}`, {
        body: { auth_type: 'bearer', secret: '****abcd' },
      });
      assert.equal(patch.status, 400, patch.text);
      assert.match(errorOf(patch), /at \/secret: is a masked value/);
      assert.equal((await stored('a2a_agents', id)).secret, undefined);

      const ex = await create('observability_exporters', {
        name: `ex-${n++}`,
        kind: 'otlp_http',
        endpoint: 'http://127.0.0.1:4318',
        headers: { a: 'header-value-aaaa' },
      });
      const h2 = await s.admin.call('PATCH', `/admin/v1/observability_exporters/${ex}`, {
        body: { headers: { b: '****bbbb' } },
      });
      assert.equal(h2.status, 400, h2.text);
      assert.match(errorOf(h2), /at \/headers\/b: is a masked value/);
    });

    it('a masked value sent back for a stored secret still keeps it (PUT and PATCH)', async () => {
      const id = await create('guardrails', { ...BEDROCK, name: `br-${n++}` });
      const g = await s.admin.call('GET', `/admin/v1/guardrails/${id}`);
      const masked = obj(obj(g.json).value);
      const put = await s.admin.call('PUT', `/admin/v1/guardrails/${id}`, { body: masked });
      assert.equal(put.status, 200, put.text);
      const patch = await s.admin.call('PATCH', `/admin/v1/guardrails/${id}`, {
        body: { aws_credentials: obj(masked.aws_credentials), region: 'eu-west-1' },
      });
      assert.equal(patch.status, 200, patch.text);
      const v = await stored('guardrails', id);
      assert.equal(obj(v.aws_credentials).secret_access_key, BEDROCK.aws_credentials.secret_access_key);
      assert.equal(v.region, 'eu-west-1');
    });
  });

  describe('PATCH null removes a secret', () => {
    it('A2A agent: {"secret": null} removes it; the document stays valid without one', async () => {
      const id = await create('a2a_agents', {
        name: `ag-${n++}`,
        url: 'http://127.0.0.1:9/a2a',
        auth_type: 'bearer',
        secret: 'agent-secret-0000111122223333',
      });
      const r = await s.admin.call('PATCH', `/admin/v1/a2a_agents/${id}`, {
        body: { auth_type: 'none', secret: null },
      });
      assert.equal(r.status, 200, r.text);
      const v = await stored('a2a_agents', id);
      assert.equal('secret' in v, false, JSON.stringify(Object.keys(v)));
      assert.equal(obj(obj(r.json).value).secret, undefined);
    });

    it('A2A agent that still needs it: 400 naming the removed field; nothing written', async () => {
      const id = await create('a2a_agents', {
        name: `ag-${n++}`,
        url: 'http://127.0.0.1:9/a2a',
        auth_type: 'bearer',
        secret: 'agent-secret-0000111122223333',
      });
      const r = await s.admin.call('PATCH', `/admin/v1/a2a_agents/${id}`, { body: { secret: null } });
      assert.equal(r.status, 400, r.text);
      assert.match(errorOf(r), /require a non-empty secret/);
      assert.match(errorOf(r), /\/secret/);
      assert.equal((await stored('a2a_agents', id)).secret, 'agent-secret-0000111122223333');
    });

    it('provider key: {"api_key": null} is a 400 naming /api_key (a provider key needs one)', async () => {
      const id = await createProviderKey(s.admin, {
        display_name: `pk-${n++}`,
        provider: 'openai',
        api_key: 'sk-provider-0000111122223333',
      });
      for (const body of [{ api_key: null }, { secret: null }]) {
        const r = await s.admin.call('PATCH', `/admin/v1/provider_keys/${id}`, { body });
        assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
        assert.match(errorOf(r), /missing field `api_key`/);
        assert.match(errorOf(r), /removed \/(api_key|secret)/);
      }
      assert.equal((await stored('provider_keys', id)).api_key, 'sk-provider-0000111122223333');
    });

    it('exporter header: {"headers": {"a": null}} removes that header only', async () => {
      const id = await create('observability_exporters', {
        name: `ex-${n++}`,
        kind: 'otlp_http',
        endpoint: 'http://127.0.0.1:4318',
        headers: { a: 'header-value-aaaa', b: 'header-value-bbbb' },
      });
      const r = await s.admin.call('PATCH', `/admin/v1/observability_exporters/${id}`, {
        body: { headers: { a: null } },
      });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual((await stored('observability_exporters', id)).headers, { b: 'header-value-bbbb' });
    });
  });

  describe('PATCH under an input alias', () => {
    it('provider key {"secret": "sk-new"} replaces api_key (stored as api_key)', async () => {
      const id = await createProviderKey(s.admin, {
        display_name: `pk-${n++}`,
        provider: 'openai',
        api_key: 'sk-provider-old-00001111',
      });
      const r = await s.admin.call('PATCH', `/admin/v1/provider_keys/${id}`, {
        body: { secret: 'sk-provider-new-22223333' },
      });
      assert.equal(r.status, 200, r.text);
      const v = await stored('provider_keys', id);
      assert.equal(v.api_key, 'sk-provider-new-22223333');
      assert.equal('secret' in v, false);
      // Sent back masked under the alias: kept.
      const back = await s.admin.call('PATCH', `/admin/v1/provider_keys/${id}`, {
        body: { secret: '****3333', api_base: 'https://example.test/v1' },
      });
      assert.equal(back.status, 200, back.text);
      assert.equal((await stored('provider_keys', id)).api_key, 'sk-provider-new-22223333');
    });

    it('provider key stored under the alias by a direct writer: a PATCH of api_key replaces it', async () => {
      const id = 'direct-pk-alias';
      await s.h.putRaw(
        'provider_keys',
        id,
        JSON.stringify({ display_name: `pk-${n++}`, provider: 'openai', secret: 'sk-direct-0000aaaa' }),
      );
      const r = await s.admin.call('PATCH', `/admin/v1/provider_keys/${id}`, {
        body: { api_key: 'sk-patched-0000bbbb' },
      });
      assert.equal(r.status, 200, r.text);
      const v = await stored('provider_keys', id);
      assert.equal(v.api_key, 'sk-patched-0000bbbb');
      assert.equal('secret' in v, false);
    });

    for (const path of ['mcp_servers', 'a2a_agents'] as const) {
      it(`${path} {"display_name": "x"} renames (stored as name)`, async () => {
        const id = await create(path, { name: `nm-${n++}`, url: 'http://127.0.0.1:9/x' });
        const newName = `renamed-${n++}`;
        const r = await s.admin.call('PATCH', `/admin/v1/${path}/${id}`, { body: { display_name: newName } });
        assert.equal(r.status, 200, r.text);
        const v = await stored(path, id);
        assert.equal(v.name, newName);
        assert.equal('display_name' in v, false);
        assert.equal(obj(obj(r.json).value).name, newName);
      });
    }
  });
});
