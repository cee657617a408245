import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { credentialFreeUrl, JwksCache } from './jwks.js';
import { candidateKeys } from './jwt.js';

/** A real local server: `/jwks` (counted), `/.well-known/openid-configuration`, `/slow`. */
describe('JwksCache against a local IdP', () => {
  let server: Server;
  let base = '';
  const state = {
    jwks: 0,
    fail: false,
    keys: [{ kty: 'OKP', kid: 'a' }] as unknown[],
    docIssuer: '',
    docJwks: '',
  };

  before(async () => {
    server = createServer((req, res) => {
      if (state.fail) return void res.writeHead(503).end();
      if (req.url === '/jwks') {
        state.jwks++;
        // Answer late, so concurrent callers overlap with the fetch in flight.
        setTimeout(() => res.writeHead(200).end(JSON.stringify({ keys: state.keys })), 50);
      } else if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200).end(JSON.stringify({ issuer: state.docIssuer, jwks_uri: state.docJwks }));
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: '/jwks' }).end();
      } else if (req.url === '/big') {
        res.writeHead(200).end(JSON.stringify({ keys: [], pad: 'x'.repeat(600 * 1024) }));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('single-flight, fresh cache, refetch capped at one per second, stale kept on failure', async () => {
    let now = 1_000_000;
    const c = new JwksCache({ now: () => now });
    const url = `${base}/jwks`;
    state.jwks = 0;
    const sets = await Promise.all(Array.from({ length: 8 }, () => c.keySet(url)));
    assert.equal(state.jwks, 1, '8 concurrent requests, one fetch');
    assert.ok(sets.every((s) => s === sets[0]));
    await c.keySet(url, true);
    assert.equal(state.jwks, 1, 'a forced refetch within a second of the last attempt does not fetch');
    now += 1_000;
    const rotated = await c.keySet(url, true);
    assert.equal(state.jwks, 2, 'after a second the unknown-kid refetch happens');
    assert.notEqual(rotated, sets[0], 'a refetch is a new set object');
    now += 599_000;
    assert.equal(await c.keySet(url), rotated, 'fresh for 600 s');
    assert.equal(state.jwks, 2);
    now += 1_000;
    state.fail = true;
    assert.equal(await c.keySet(url), rotated, 'a failed refetch keeps the stale set');
    state.fail = false;
    assert.equal(await new JwksCache().keySet(`${base}/missing`), undefined, 'nothing cached and a failure');
  });

  test('fetch rules: no redirects, body cap', async () => {
    const c = new JwksCache();
    assert.equal(await c.keySet(`${base}/redirect`), undefined);
    assert.equal(await c.keySet(`${base}/big`), undefined);
  });

  test('discovery: same issuer, jwks_uri on the issuer origin and credential-free', async () => {
    state.docIssuer = base;
    state.docJwks = `${base}/jwks`;
    assert.equal(await new JwksCache().jwksUrl(base, undefined), `${base}/jwks`);
    state.docJwks = 'http://169.254.169.254/jwks';
    assert.equal(await new JwksCache().jwksUrl(base, undefined), undefined, 'off-origin jwks_uri');
    state.docJwks = `${base}/jwks?access_token=x`;
    assert.equal(await new JwksCache().jwksUrl(base, undefined), undefined, 'credential in jwks_uri');
    state.docIssuer = 'https://other';
    state.docJwks = `${base}/jwks`;
    assert.equal(await new JwksCache().jwksUrl(base, undefined), undefined, 'issuer mismatch');
    assert.equal(await new JwksCache().jwksUrl(base, 'https://u:p@idp/jwks'), undefined, 'user-info');
    assert.equal(await new JwksCache().jwksUrl(base, 'https://idp/jwks'), 'https://idp/jwks');
  });
});

test('credential-free URLs', () => {
  assert.ok(credentialFreeUrl('https://idp.example/jwks?kid=1'));
  for (const bad of [
    'https://idp/x?API_KEY=1',
    'https://idp/x?client_secret=1',
    'ftp://idp/x',
    'not a url',
  ]) {
    assert.equal(credentialFreeUrl(bad), undefined, bad);
  }
});

test('candidate keys: by kid; without kid every usable key, at most 8', () => {
  const keys = [
    { kid: 'a', alg: 'RS256' },
    { kid: 'b', use: 'enc' },
    { kid: 'c', alg: 'ES256' },
    ...Array.from({ length: 10 }, (_, i) => ({ kid: `n${i}` })),
  ];
  assert.deepEqual(candidateKeys({ keys }, 'RS256', 'a'), [keys[0]]);
  assert.deepEqual(candidateKeys({ keys }, 'RS256', 'b'), [], 'an encryption key is never a candidate');
  assert.deepEqual(candidateKeys({ keys }, 'RS256', 'c'), [], 'alg must match');
  assert.equal(candidateKeys({ keys }, 'RS256', undefined).length, 8);
  assert.equal(candidateKeys({ keys }, 'RS256', undefined)[0], keys[0]);
});
