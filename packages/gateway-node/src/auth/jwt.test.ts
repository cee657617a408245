/**
 * JwtAuthenticator on a real snapshot and a real local JWKS server: the §4.2 steps that need
 * both (provider selection, key confusion, cross-provider subjects, the verified-token cache
 * across a rotation), and what a verification costs.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { type ConfigSnapshot, SnapshotBuilder } from '@aisix/core';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { JwtAuthenticator } from './jwt.js';

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

const P = '/aisix';
const enc = new TextEncoder();
let rev = 0;
const entry = (kind: string, id: string, doc: unknown) => ({
  key: `${P}/${kind}/${id}`,
  value: enc.encode(JSON.stringify(doc)),
  revision: ++rev,
});

describe('JwtAuthenticator', () => {
  let server: Server;
  let jwksUrl = '';
  let served: JWK[] = [];
  let priv: SigningKey;
  let snap: ConfigSnapshot;
  const ISS = 'https://idp-a.example';
  const ISS_B = 'https://idp-b.example';

  before(async () => {
    server = createServer((_req, res) => res.writeHead(200).end(JSON.stringify({ keys: served })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    jwksUrl = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/jwks`;
    const kp = await generateKeyPair('RS256');
    priv = kp.privateKey;
    served = [{ ...(await exportJWK(kp.publicKey)), kid: 'k1' }];
    const b = new SnapshotBuilder({ prefix: P });
    snap = b.resync(
      [
        entry('oidc_providers', 'p1', { name: 'a', issuer: ISS, audiences: ['aisix'], jwks_uri: jwksUrl }),
        entry('oidc_providers', 'p2', { name: 'b', issuer: ISS_B, audiences: ['aisix'], jwks_uri: jwksUrl }),
        entry('api_keys', 'k1', {
          key_hash: 'a'.repeat(64),
          allowed_models: ['*'],
          jwt_provider: 'a',
          jwt_subject: 'alice',
        }),
      ],
      rev,
    );
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const mint = (iss: string, sub = 'alice', kid = 'k1', alg = 'RS256', key: SigningKey | Uint8Array = priv) =>
    new SignJWT({ sub })
      .setProtectedHeader({ alg, kid })
      .setIssuer(iss)
      .setAudience('aisix')
      .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
      .sign(key);

  const run = async (jwt: JwtAuthenticator, token: string) => {
    const h = jwt.header(snap, token);
    assert.ok(h, 'JWT-shaped with providers enabled');
    return jwt.authenticate(token, h, snap, Date.now());
  };

  test('a valid token maps to its bound key; a subject bound under another provider is unmapped', async () => {
    const jwt = new JwtAuthenticator();
    const ok = await run(jwt, await mint(ISS));
    assert.ok(ok.ok);
    assert.equal(ok.key.id, 'k1');
    const cross = await run(jwt, await mint(ISS_B));
    assert.equal(cross.ok ? 'ok' : cross.reason, 'jwt_identity_unmapped');
  });

  test('HMAC key confusion: HS256 is refused before any key is used', async () => {
    const jwt = new JwtAuthenticator();
    const secret = enc.encode(JSON.stringify(served[0]));
    const r = await run(jwt, await mint(ISS, 'alice', 'k1', 'HS256', secret));
    assert.equal(r.ok ? 'ok' : r.reason, 'jwt_alg_not_allowed');
  });

  test('the verified-token cache re-verifies once the key set is refetched (rotation)', async () => {
    let now = Date.now();
    const jwt = new JwtAuthenticator({ now: () => now });
    const token = await mint(ISS);
    const h = jwt.header(snap, token);
    assert.ok(h);
    assert.ok((await jwt.authenticate(token, h, snap, now)).ok);
    const kept = served;
    const kp2 = await generateKeyPair('RS256');
    served = [{ ...(await exportJWK(kp2.publicKey)), kid: 'k2' }];
    assert.ok((await jwt.authenticate(token, h, snap, now)).ok, 'k1 still cached');
    // A k2 token forces a refetch: the new set no longer has k1, and the cached k1 verification
    // belongs to the old set, so it does not carry over.
    now += 1_000;
    const t2 = await mint(ISS, 'alice', 'k2', 'RS256', kp2.privateKey);
    const h2 = jwt.header(snap, t2);
    assert.ok(h2);
    assert.ok((await jwt.authenticate(t2, h2, snap, now)).ok);
    const again = await jwt.authenticate(token, h, snap, now);
    assert.equal(again.ok ? 'ok' : again.reason, 'jwt_unknown_kid');
    served = kept;
  });

  test('cost: first verification vs a cached token (printed)', async () => {
    const jwt = new JwtAuthenticator();
    const tokens = await Promise.all(Array.from({ length: 200 }, (_, i) => mint(ISS, `u${i}`)));
    await run(jwt, tokens[0] as string); // warm the JWKS cache
    let t0 = process.hrtime.bigint();
    for (const t of tokens.slice(1)) await run(jwt, t);
    const first = Number(process.hrtime.bigint() - t0) / 1e3 / (tokens.length - 1);
    t0 = process.hrtime.bigint();
    for (const t of tokens.slice(1)) await run(jwt, t);
    const cached = Number(process.hrtime.bigint() - t0) / 1e3 / (tokens.length - 1);
    console.log(`# RS256 verification ${first.toFixed(1)} µs/token, cached ${cached.toFixed(1)} µs/token`);
    assert.ok(cached < first, 'the cached path skips the signature check');
  });
});
