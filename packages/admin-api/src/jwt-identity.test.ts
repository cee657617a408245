/**
 * JWT identity rules on admin writes, over real HTTP on both stores. The resources file applies
 * them (control-plane §3.3: `jwt_subject` requires `jwt_provider`; §3.11: distinct issuers among
 * enabled providers, no credentials in `issuer` / `jwks_uri`), and the gateway fails closed on
 * what they prevent (agents-and-jobs §4.2: two enabled providers with one issuer, or an identity
 * two keys bind, refuse the token). Ours writes these fields through the Admin API, so a write
 * that would lock a bound caller out, or store a credential in a URL that reads show, is refused
 * with nothing stored.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { KindName } from '@aisix/core';
import { describeOnBothStores, obj } from './testing/harness.js';

describeOnBothStores('JWT identity rules', (s) => {
  let alice: string;
  let corp: string;

  const post = async (kind: string, body: unknown): Promise<string> => {
    const r = await s.admin.call('POST', `/admin/v1/${kind}`, { body });
    assert.equal(r.status, 200, `${kind}: ${r.text}`);
    return String(obj(r.json).id);
  };

  const refused = async (
    method: 'POST' | 'PUT' | 'PATCH',
    path: string,
    body: unknown,
    status: number,
    says: string | RegExp,
  ): Promise<string> => {
    const kind = path.split('/')[3] as KindName;
    const n = await s.h.rawCount(kind);
    const r = await s.admin.call(method, path, { body });
    assert.equal(r.status, status, r.text);
    assert.deepEqual(Object.keys(obj(r.json)), ['error_msg']);
    const msg = String(obj(r.json).error_msg);
    if (typeof says === 'string') assert.ok(msg.includes(says), msg);
    else assert.match(msg, says);
    assert.equal(await s.h.rawCount(kind), n, 'nothing created');
    return msg;
  };

  before(async () => {
    corp = await post('oidc_providers', {
      name: 'corp',
      issuer: 'https://idp.example.com',
      audiences: ['aisix'],
    });
    alice = await post('api_keys', { allowed_models: [], jwt_provider: 'corp', jwt_subject: 'alice' });
  });

  it('an api key with jwt_subject but no jwt_provider is 400 (POST, PUT, PATCH)', async () => {
    await refused(
      'POST',
      '/admin/v1/api_keys',
      { allowed_models: [], jwt_subject: 'bob' },
      400,
      'jwt_subject requires jwt_provider',
    );
    await refused(
      'PATCH',
      `/admin/v1/api_keys/${alice}`,
      { jwt_provider: null },
      400,
      'jwt_subject requires jwt_provider',
    );
    await refused(
      'PUT',
      `/admin/v1/api_keys/${alice}`,
      { allowed_models: [], jwt_subject: 'alice' },
      400,
      'jwt_subject requires jwt_provider',
    );
    const now = obj(obj((await s.admin.call('GET', `/admin/v1/api_keys/${alice}`)).json).value);
    assert.equal(now.jwt_provider, 'corp', 'unchanged');
  });

  it('a second api key bound to the same (jwt_provider, jwt_subject) is 409 naming the first', async () => {
    const msg = await refused(
      'POST',
      '/admin/v1/api_keys',
      { allowed_models: [], jwt_provider: 'corp', jwt_subject: 'alice' },
      409,
      `already bound to api_keys/${alice}`,
    );
    assert.ok(msg.startsWith('(jwt_provider, jwt_subject)'), msg);
    // Moving another key onto the pair is the same conflict.
    const bob = await post('api_keys', { allowed_models: [], jwt_provider: 'corp', jwt_subject: 'bob' });
    await refused('PATCH', `/admin/v1/api_keys/${bob}`, { jwt_subject: 'alice' }, 409, `api_keys/${alice}`);
    // The key itself may keep (or re-send) its own binding; another subject is free.
    const self = await s.admin.call('PUT', `/admin/v1/api_keys/${alice}`, {
      body: { allowed_models: ['*'], jwt_provider: 'corp', jwt_subject: 'alice' },
    });
    assert.equal(self.status, 200, self.text);
    await post('api_keys', { allowed_models: [], jwt_provider: 'corp', jwt_subject: 'carol' });
  });

  it('an OIDC provider whose issuer or jwks_uri carries credentials is 400 at the field, value not echoed', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ issuer: 'https://user:s3cr3t-pw@idp2.example.com' }, '/issuer'],
      [
        {
          issuer: 'https://idp2.example.com',
          jwks_uri: 'https://idp2.example.com/jwks?access_token=s3cr3t-pw',
        },
        '/jwks_uri',
      ],
    ];
    for (const [fields, pointer] of cases) {
      const msg = await refused(
        'POST',
        '/admin/v1/oidc_providers',
        { name: 'idp2', audiences: ['a'], ...fields },
        400,
        `schema validation failed at ${pointer}: must not contain credentials`,
      );
      assert.ok(!msg.includes('s3cr3t'), msg);
    }
    await refused(
      'PATCH',
      `/admin/v1/oidc_providers/${corp}`,
      { jwks_uri: 'https://idp.example.com/keys?api_key=s3cr3t-pw' },
      400,
      '/jwks_uri',
    );
  });

  it('two enabled OIDC providers with one issuer: the second is 409; a disabled one may share it', async () => {
    await refused(
      'POST',
      '/admin/v1/oidc_providers',
      { name: 'corp2', issuer: 'https://idp.example.com', audiences: ['x'] },
      409,
      `issuer is also the issuer of enabled oidc_providers/${corp}`,
    );
    const off = await post('oidc_providers', {
      name: 'corp-off',
      issuer: 'https://idp.example.com',
      audiences: ['x'],
      enabled: false,
    });
    // Enabling it is the same conflict; the provider stays disabled.
    await refused(
      'PATCH',
      `/admin/v1/oidc_providers/${off}`,
      { enabled: true },
      409,
      `oidc_providers/${corp}`,
    );
    const now = obj(obj((await s.admin.call('GET', `/admin/v1/oidc_providers/${off}`)).json).value);
    assert.equal(now.enabled, false);
    // A provider keeps its own issuer on replace.
    const self = await s.admin.call('PUT', `/admin/v1/oidc_providers/${corp}`, {
      body: { name: 'corp', issuer: 'https://idp.example.com', audiences: ['aisix', 'other'] },
    });
    assert.equal(self.status, 200, self.text);
  });
});
