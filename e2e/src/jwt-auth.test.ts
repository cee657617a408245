/**
 * JWT / OIDC caller authentication (agents-and-jobs §4.6) end to end: one `--role all` process,
 * a local identity provider on node:http (discovery document + JWKS, counting fetches, able to
 * rotate keys and to go down), tokens minted with `jose` from keys generated in the test, and
 * the official `openai` and `@anthropic-ai/sdk` clients sending the JWT as their api key.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@aisix/testkit';
import Anthropic from '@anthropic-ai/sdk';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import OpenAI from 'openai';
import {
  AdminClient,
  type AisixProcess,
  type Entry,
  httpGet,
  httpSend,
  type MockUpstream,
  removeDir,
  startAisix,
  startMockUpstream,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

interface Idp {
  readonly issuer: string;
  /** Public JWKs served; replace to rotate. */
  keys: JWK[];
  down: boolean;
  jwksFetches: number;
  discoveryFetches: number;
  close(): Promise<void>;
}

async function startIdp(): Promise<Idp> {
  const state = { keys: [] as JWK[], down: false, jwksFetches: 0, discoveryFetches: 0 };
  let issuer = '';
  const server: Server = createServer((req, res) => {
    if (state.down) {
      res.writeHead(500).end();
      return;
    }
    if (req.url === '/.well-known/openid-configuration') {
      state.discoveryFetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    } else if (req.url === '/jwks') {
      state.jwksFetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: state.keys }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  issuer = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return Object.assign(state, {
    issuer,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

async function keyPair(kid: string): Promise<{ kid: string; priv: SigningKey; jwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  return { kid, priv: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

const nowS = () => Math.floor(Date.now() / 1000);

interface MintOpts {
  key: { kid: string; priv: SigningKey };
  claims?: Record<string, unknown>;
  iss?: string;
  aud?: string | string[];
  exp?: number | null;
  noKid?: boolean;
}

describe('JWT / OIDC callers (agents-and-jobs §4)', () => {
  const dir = tempDir('jwt-auth');
  let upstream: MockUpstream;
  let idp: Idp;
  let proc: AisixProcess;
  let api: AdminClient;
  let k1: Awaited<ReturnType<typeof keyPair>>;
  let provider: Entry;

  const mint = (o: MintOpts) => {
    const claims = { sub: 'alice', scope: 'openid ai.access', department: 'ai-lab', ...o.claims };
    const j = new SignJWT(claims)
      .setProtectedHeader(o.noKid ? { alg: 'RS256' } : { alg: 'RS256', kid: o.key.kid })
      .setIssuer(o.iss ?? idp.issuer)
      .setAudience(o.aud ?? 'aisix')
      .setIssuedAt();
    if (o.exp !== null) j.setExpirationTime(o.exp ?? nowS() + 600);
    return j.sign(o.key.priv);
  };
  const client = (token: string) =>
    new OpenAI({ apiKey: token, baseURL: `${proc.proxyUrl}/v1`, maxRetries: 0 });
  const chat = (token: string, model = 'chat') =>
    httpSend(
      'POST',
      `${proc.proxyUrl}/v1/chat/completions`,
      { authorization: `Bearer ${token}` },
      { model, messages: [{ role: 'user', content: 'ping' }] },
    );
  const errorOf = (body: string) =>
    (JSON.parse(body) as { error: { type: string; code?: string; message: string } }).error;
  const providerBody = (over: Record<string, unknown> = {}) => ({
    name: 'corp',
    issuer: idp.issuer,
    audiences: ['aisix'],
    required_scopes: ['ai.access'],
    bound_claims: { department: 'ai-lab' },
    ...over,
  });

  before(async () => {
    upstream = await startMockUpstream();
    idp = await startIdp();
    k1 = await keyPair('k1');
    idp.keys = [k1.jwk];
    proc = await startAisix({ name: 'jwt', dir, role: 'all' });
    await waitStatus(proc, `${proc.proxyUrl}/readyz`, 200);
    api = new AdminClient(proc.adminUrl);
    const pk = await api.create('provider_keys', {
      display_name: 'up',
      api_key: 'sk-upstream',
      provider: 'openai',
      adapter: 'openai',
      api_base: upstream.apiBase,
    });
    for (const name of ['chat', 'other']) {
      await api.create('models', {
        display_name: name,
        provider: 'openai',
        model_name: 'gpt-4o-mini',
        provider_key_id: pk.id,
      });
    }
  });

  after(async () => {
    await proc?.kill();
    await upstream?.close();
    await idp?.close();
    removeDir(dir);
  });

  test('with no provider configured a JWT bearer is an api key: 401 invalid API key, zero IdP fetches', async () => {
    const r = await chat(await mint({ key: k1 }));
    assert.equal(r.status, 401);
    assert.equal(errorOf(r.body).message, 'invalid API key');
    assert.equal(idp.jwksFetches + idp.discoveryFetches, 0);
  });

  test('a valid token runs as its bound key: allowed_models, rate limit, discovery, ≤ 1 JWKS fetch for 8 requests', async () => {
    provider = await api.create('oidc_providers', providerBody());
    await api.create('api_keys', { allowed_models: ['chat'], jwt_provider: 'corp', jwt_subject: 'alice' });
    await api.create('api_keys', {
      allowed_models: ['chat'],
      jwt_provider: 'corp',
      jwt_subject: 'carol',
      rate_limit: { rpm: 2 },
    });
    await api.create('api_keys', {
      allowed_models: ['chat'],
      jwt_provider: 'corp',
      jwt_subject: 'bob',
      disabled: true,
    });
    const token = await mint({ key: k1 });
    await waitUntil(
      'the provider and bindings apply',
      async () => ((await chat(token)).status === 200 ? true : undefined),
      {
        timeoutMs: 10_000,
        alive: [proc],
      },
    );
    const fetchesBefore = idp.jwksFetches;
    assert.ok(fetchesBefore <= 1, `one JWKS fetch so far, saw ${fetchesBefore}`);
    assert.ok(idp.discoveryFetches >= 1, 'the JWKS URL came from discovery');

    const calls = upstream.calls.length;
    const results = await Promise.all(
      Array.from({ length: 8 }, async () =>
        client(await mint({ key: k1 })).chat.completions.create({
          model: 'chat',
          messages: [{ role: 'user', content: 'ping' }],
        }),
      ),
    );
    for (const c of results) assert.equal(c.choices[0]?.message.content, 'pong');
    assert.equal(upstream.calls.length, calls + 8);
    assert.ok(
      idp.jwksFetches - fetchesBefore <= 1,
      `8 requests added ${idp.jwksFetches - fetchesBefore} JWKS fetches`,
    );
    assert.equal(
      upstream.calls.at(-1)?.authorization,
      'Bearer sk-upstream',
      'the JWT is never forwarded upstream',
    );

    await assert.rejects(
      client(token).chat.completions.create({ model: 'other', messages: [{ role: 'user', content: 'x' }] }),
      (e: unknown) => e instanceof OpenAI.PermissionDeniedError,
    );
    const models = await client(token).models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['chat'],
    );

    const carol = await mint({ key: k1, claims: { sub: 'carol' } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await chat(carol)).status);
    assert.deepEqual(statuses, [200, 200, 429], 'the bound key rpm: 2 applies');

    // A token without kid verifies against a one-key JWKS.
    assert.equal((await chat(await mint({ key: k1, noKid: true }))).status, 200);
  });

  test('refusals: documented status, code and envelope; the upstream is untouched', async () => {
    const other = await keyPair('k1'); // another IdP claiming this issuer and kid
    const valid = await mint({ key: k1 });
    const [h, p, s] = valid.split('.') as [string, string, string];
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'carol' })).toString('base64url')}.${s}`;
    const seg = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const claims = {
      iss: idp.issuer,
      aud: 'aisix',
      sub: 'alice',
      exp: nowS() + 600,
      scope: 'ai.access',
      department: 'ai-lab',
    };
    const cases: [string, string, number, string][] = [
      ['expired', await mint({ key: k1, exp: nowS() - 5 }), 401, 'jwt_expired'],
      ['not yet valid', await mint({ key: k1, claims: { nbf: nowS() + 120 } }), 401, 'jwt_invalid'],
      ['no exp', await mint({ key: k1, exp: null }), 401, 'jwt_invalid'],
      ['tampered payload', tampered, 401, 'jwt_invalid'],
      ['wrong audience', await mint({ key: k1, aud: 'someone-else' }), 401, 'jwt_invalid'],
      ['unknown issuer', await mint({ key: k1, iss: 'https://evil.example' }), 401, 'jwt_invalid'],
      ['signed by another IdP', await mint({ key: other }), 401, 'jwt_invalid'],
      ['HS256 header', `${seg({ alg: 'HS256', kid: 'k1' })}.${seg(claims)}.c2ln`, 401, 'jwt_invalid'],
      ['alg none', `${seg({ alg: 'none' })}.${seg(claims)}.c2ln`, 401, 'jwt_invalid'],
      ['missing scope', await mint({ key: k1, claims: { scope: 'openid' } }), 403, 'jwt_claims_rejected'],
      [
        'wrong bound claim',
        await mint({ key: k1, claims: { department: 'sales' } }),
        403,
        'jwt_claims_rejected',
      ],
      [
        'absent bound claim',
        await mint({ key: k1, claims: { department: undefined } }),
        403,
        'jwt_claims_rejected',
      ],
      ['unbound subject', await mint({ key: k1, claims: { sub: 'mallory' } }), 401, 'jwt_identity_unmapped'],
      ['bound to a disabled key', await mint({ key: k1, claims: { sub: 'bob' } }), 401, 'api_key_disabled'],
    ];
    const calls = upstream.calls.length;
    for (const [what, token, status, code] of cases) {
      const r = await chat(token);
      assert.equal(r.status, status, `${what}: ${r.body}`);
      const e = errorOf(r.body);
      assert.equal(e.code, code, what);
      assert.equal(e.type, status === 403 ? 'permission_denied' : 'invalid_api_key', what);
    }
    assert.equal(upstream.calls.length, calls, 'no refused request reached the upstream');

    // Through the openai client: the SDK's typed errors carry the same code.
    await assert.rejects(
      client(cases[0]?.[1] as string).chat.completions.create({
        model: 'chat',
        messages: [{ role: 'user', content: 'x' }],
      }),
      (e: unknown) =>
        e instanceof OpenAI.AuthenticationError && (e.error as { code?: string }).code === 'jwt_expired',
    );
    // /v1/messages answers in the Anthropic envelope; the SDK sends the JWT as x-api-key.
    const anthropic = new Anthropic({
      apiKey: cases[0]?.[1] as string,
      baseURL: proc.proxyUrl,
      maxRetries: 0,
    });
    await assert.rejects(
      anthropic.messages.create({ model: 'chat', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
      (e: unknown) =>
        e instanceof Anthropic.AuthenticationError &&
        (e.error as { type?: string; error?: { type?: string; message?: string } }).error?.type ===
          'authentication_error' &&
        (e.error as { error?: { message?: string } }).error?.message === 'JWT has expired',
    );
  });

  test('a JWT-shaped stored key is never a key; a dotted custom key still is', async () => {
    const seg = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const jwtish = `${seg({ alg: 'RS256', kid: 'k1' })}.${seg({ iss: idp.issuer })}.c2ln`;
    const sha = (t: string) => createHash('sha256').update(t).digest('hex');
    await api.create('api_keys', { allowed_models: ['chat'], key_hash: sha(jwtish) });
    await api.create('api_keys', { allowed_models: ['chat'], key_hash: sha('my.imported.key') });
    await waitUntil(
      'the dotted key applies',
      async () => ((await chat('my.imported.key')).status === 200 ? true : undefined),
      {
        timeoutMs: 10_000,
      },
    );
    const r = await chat(jwtish);
    assert.equal(r.status, 401);
    assert.equal(errorOf(r.body).code, 'jwt_invalid');
  });

  test('rotation: a new kid verifies after one refetch, a retired kid is refused; JWKS down keeps cached keys', async () => {
    const k2 = await keyPair('k2');
    idp.keys = [k2.jwk]; // k1 retired in the same rotation
    await sleep(1100); // past the per-URL refetch cap
    const before = idp.jwksFetches;
    const t2 = await mint({ key: k2 });
    assert.equal((await chat(t2)).status, 200);
    assert.equal(idp.jwksFetches, before + 1, 'one refetch on the unknown kid');
    const r1 = await chat(await mint({ key: k1 }));
    assert.equal(r1.status, 401);
    assert.equal(errorOf(r1.body).code, 'jwt_invalid');

    idp.down = true;
    await sleep(1100);
    assert.equal(
      (await chat(await mint({ key: k2 }))).status,
      200,
      'cached keys keep working while the IdP is down',
    );
    const k3 = await keyPair('k3');
    const r3 = await chat(await mint({ key: k3 }));
    assert.equal(r3.status, 401, 'a new kid fails closed while the JWKS cannot be fetched');
    idp.down = false;
  });

  test('leeway_secs and identity_claim changes through the Admin API apply live', async () => {
    const k5 = await keyPair('k5');
    idp.keys = [k5.jwk];
    await sleep(1100); // past the refetch cap of the rotation test
    const late = await mint({ key: k5, exp: nowS() - 30 });
    assert.equal(errorOf((await chat(late)).body).code, 'jwt_expired');
    const lenient = await api.raw(
      'PUT',
      `/oidc_providers/${provider.id}`,
      providerBody({ leeway_secs: 120 }),
    );
    assert.equal(lenient.status, 200, lenient.body);
    await waitUntil(
      'leeway_secs applies',
      async () => ((await chat(late)).status === 200 ? true : undefined),
      {
        timeoutMs: 10_000,
      },
    );

    // Identity from a nested claim, bound to a key that may use `other` (alice's key may not).
    await api.create('api_keys', {
      allowed_models: ['other'],
      jwt_provider: 'corp',
      jwt_subject: 'dana@corp.example',
    });
    const byEmail = await api.raw(
      'PUT',
      `/oidc_providers/${provider.id}`,
      providerBody({ identity_claim: 'profile.email' }),
    );
    assert.equal(byEmail.status, 200, byEmail.body);
    const dana = await mint({ key: k5, claims: { profile: { email: 'dana@corp.example' } } });
    await waitUntil(
      'identity_claim applies',
      async () => ((await chat(dana, 'other')).status === 200 ? true : undefined),
      { timeoutMs: 10_000 },
    );
    assert.equal((await chat(dana, 'chat')).status, 403, 'runs as the key bound to the e-mail');
    const restored = await api.raw('PUT', `/oidc_providers/${provider.id}`, providerBody());
    assert.equal(restored.status, 200, restored.body);
  });

  test('signing keys that cannot be fetched: 503 jwks_unavailable in each envelope', async () => {
    const dead = await freePort(); // nothing listens there
    const issuer = 'https://dead-idp.example';
    await api.create('oidc_providers', {
      name: 'dead',
      issuer,
      audiences: ['aisix'],
      jwks_uri: `http://127.0.0.1:${dead}/jwks`,
    });
    const token = await mint({ key: k1, iss: issuer });
    const r = await waitUntil(
      'the second provider applies',
      async () => {
        const x = await chat(token);
        return x.status === 503 ? x : undefined;
      },
      { timeoutMs: 10_000 },
    );
    assert.deepEqual(errorOf(r.body), {
      type: 'api_error',
      code: 'jwks_unavailable',
      message: "unable to fetch the identity provider's signing keys",
    });
    const m = await httpSend(
      'POST',
      `${proc.proxyUrl}/v1/messages`,
      { 'x-api-key': token, 'anthropic-version': '2023-06-01' },
      { model: 'chat', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] },
    );
    assert.equal(m.status, 503);
    assert.equal((JSON.parse(m.body) as { error: { type: string } }).error.type, 'overloaded_error');
  });

  test('metrics show jwt decisions', async () => {
    const m = (await httpGet(`${proc.metricsUrl}/metrics`)).body;
    assert.match(m, /aisix_auth_decisions_total\{[^}]*method="jwt"[^}]*result="allowed"[^}]*\} [1-9]/);
    assert.match(
      m,
      /aisix_auth_decisions_total\{[^}]*method="jwt"[^}]*result="denied"[^}]*reason="jwt_expired"[^}]*\} [1-9]/,
    );
  });

  test('oidc_providers changes through the Admin API apply live', async () => {
    // Rotate once more so this part does not depend on the IdP outage above.
    const k4 = await keyPair('k4');
    idp.keys = [k4.jwk];
    await sleep(1100);
    const live = await mint({ key: k4 });
    assert.equal((await chat(live)).status, 200);

    const put = await api.raw(
      'PUT',
      `/oidc_providers/${provider.id}`,
      providerBody({ required_scopes: ['ai.admin'] }),
    );
    assert.equal(put.status, 200, put.body);
    await waitUntil(
      'the new required scope applies',
      async () => ((await chat(live)).status === 403 ? true : undefined),
      {
        timeoutMs: 10_000,
      },
    );

    const off = await api.raw('PUT', `/oidc_providers/${provider.id}`, providerBody({ enabled: false }));
    assert.equal(off.status, 200, off.body);
    await waitUntil(
      'a disabled provider no longer vouches for its tokens',
      async () => {
        const r = await chat(live);
        return r.status === 401 && errorOf(r.body).code === 'jwt_invalid' ? true : undefined;
      },
      { timeoutMs: 10_000 },
    );

    // Deleting the last enabled provider sends JWT-shaped bearers back to the api-key path.
    for (const e of await api.list('oidc_providers')) {
      if (e.value.name === 'dead') await api.remove('oidc_providers', e.id);
    }
    await waitUntil(
      'no enabled provider: a JWT bearer is an unknown api key',
      async () => {
        const r = await chat(live);
        return r.status === 401 && errorOf(r.body).message === 'invalid API key' ? true : undefined;
      },
      { timeoutMs: 10_000 },
    );
  });
});
