/**
 * JWKS fetches use the gateway's upstream connection settings (agents-and-jobs §1.2): a JWK set
 * served over HTTPS with a self-signed CA is trusted through `upstream.tls.ca_file`; without it
 * the set cannot be fetched and the JWT caller gets 503 `jwks_unavailable`.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { selfSignedCert, type TestCert } from '@aisix/testkit';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import {
  buildSnapshot,
  type Docs,
  type Started,
  sha256,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';

let cert: TestCert;
let idp: Server;
let served: JWK[] = [];
let sign: (sub: string) => Promise<string>;
let trusted: Started;
let untrusted: Started;
let fetches = 0;
const ISS = 'https://idp.example';

before(async () => {
  cert = selfSignedCert();
  idp = createServer({ cert: cert.cert, key: cert.key }, (_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served }));
  });
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
  const jwksUri = `https://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks`;
  const kp = await generateKeyPair('RS256');
  served = [{ ...(await exportJWK(kp.publicKey)), kid: 'k1' }];
  sign = (sub) =>
    new SignJWT({ sub })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISS)
      .setAudience('aisix')
      .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
      .sign(kp.privateKey);
  const docs = {
    oidc_providers: { p1: { name: 'idp', issuer: ISS, audiences: ['aisix'], jwks_uri: jwksUri } },
    api_keys: {
      k1: { key_hash: sha256('sk-unused'), allowed_models: ['*'], jwt_provider: 'idp', jwt_subject: 'alice' },
    },
  } as Docs;
  trusted = await startTestGateway(
    buildSnapshot(docs),
    testConfig({ upstream: { retries: 0, tls: { ca_file: cert.certFile } } }),
  );
  untrusted = await startTestGateway(buildSnapshot(docs));
});

after(async () => {
  await trusted.gw.close();
  await untrusted.gw.close();
  idp.closeAllConnections();
  await new Promise<void>((r) => idp.close(() => r()));
});

const models = async (g: Started, token: string) =>
  (await fetch(`${g.base}/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status;

test('a JWK set over HTTPS with a self-signed CA: trusted through upstream.tls.ca_file, 503 jwks_unavailable without it', async () => {
  const token = await sign('alice');
  assert.equal(await models(trusted, token), 200);
  assert.equal(fetches, 1, 'the trusted gateway fetched the set');
  // §4.5: the signing keys cannot be fetched → 503 jwks_unavailable.
  assert.equal(await models(untrusted, token), 503);
  assert.equal(fetches, 1, 'the untrusted gateway never completed a TLS handshake');
});
