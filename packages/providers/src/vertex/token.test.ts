import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { ServiceAccount } from './credentials.js';
import { type MockTokenServer, nodeHttpClient, startMockTokenServer } from './test-support.js';
import { TokenMinter } from './token.js';

const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: typeof pair.privateKey) => k.export({ type: 'pkcs8', format: 'pem' }).toString();
const http = nodeHttpClient();
const T0 = 1_800_000_000_000;
let mock: MockTokenServer;

before(async () => {
  mock = await startMockTokenServer(pair.publicKey);
});
after(() => mock.close());

function sa(email = 'svc@proj.iam.gserviceaccount.com', key = pem(pair.privateKey)): ServiceAccount {
  return { clientEmail: email, privateKey: key, tokenUri: mock.url, privateKeyId: 'kid-1' };
}

test('mints with a verified RS256 assertion (iss, aud = token_uri, cloud-platform scope, 1 h) and caches it', async () => {
  const m = new TokenMinter();
  const before = mock.grants.length;
  const a = await m.token(sa(), http, T0);
  assert.deepEqual(a.ok && a.token.startsWith('tok-'), true);
  const g = mock.grants.at(-1);
  assert.equal(g?.verified, true);
  assert.deepEqual(g?.header, { alg: 'RS256', typ: 'JWT', kid: 'kid-1' });
  assert.equal(g?.claims.iss, 'svc@proj.iam.gserviceaccount.com');
  assert.equal(g?.claims.aud, mock.url);
  assert.equal(g?.claims.iat, T0 / 1000);
  const b = await m.token(sa(), http, T0 + 1000);
  assert.deepEqual(b, a);
  assert.equal(mock.grants.length, before + 1);
  assert.equal(m.mints, 1);
});

test('refreshes from 60 s before expiry, not earlier', async () => {
  const m = new TokenMinter();
  const first = await m.token(sa('a@x.iam'), http, T0);
  const stillCached = await m.token(sa('a@x.iam'), http, T0 + 3600_000 - 61_000);
  assert.deepEqual(stillCached, first);
  assert.equal(m.mints, 1);
  const refreshed = await m.token(sa('a@x.iam'), http, T0 + 3600_000 - 59_000);
  assert.ok(refreshed.ok && first.ok && refreshed.token !== first.token);
  assert.equal(m.mints, 2);
});

test('concurrent requests share one in-flight mint', async () => {
  const m = new TokenMinter();
  mock.delayMs = 50;
  try {
    const all = await Promise.all(Array.from({ length: 10 }, () => m.token(sa('c@x.iam'), http, T0)));
    assert.equal(m.mints, 1);
    assert.ok(all.every((r) => r.ok && all[0]?.ok && r.token === all[0].token));
  } finally {
    mock.delayMs = 0;
  }
});

test('a key the token endpoint does not trust → invalid credentials without key material; not cached', async () => {
  const m = new TokenMinter();
  const wrongKey = pem(other.privateKey);
  const r = await m.token(sa('w@x.iam', wrongKey), http, T0);
  assert.equal(r.ok, false);
  assert.ok(!r.ok && /^invalid upstream credentials: .*\(invalid_grant\)$/.test(r.message));
  assert.ok(!r.ok && !r.message.includes('PRIVATE KEY') && !r.message.includes('Invalid JWT'));
  assert.equal(mock.grants.at(-1)?.verified, false);
  await m.token(sa('w@x.iam', wrongKey), http, T0);
  assert.equal(m.mints, 2);
});

test('a malformed or non-RSA key is refused before any I/O', async () => {
  const m = new TokenMinter();
  const n = mock.grants.length;
  const bad = await m.token(
    sa('b@x.iam', '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n'),
    http,
    T0,
  );
  assert.ok(!bad.ok && bad.message.includes('not a usable RSA key'));
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  const r = await m.token(sa('e@x.iam', ec), http, T0);
  assert.equal(r.ok, false);
  assert.equal(mock.grants.length, n);
  assert.equal(m.mints, 0);
});

test('token endpoint 5xx rejects (a transport-class failure for the gateway)', async () => {
  const m = new TokenMinter();
  mock.failWith = 503;
  try {
    await assert.rejects(m.token(sa('f@x.iam'), http, T0), /HTTP 503/);
  } finally {
    mock.failWith = undefined;
  }
  assert.ok((await m.token(sa('f@x.iam'), http, T0)).ok);
});

test('the cache is bounded: the oldest account is evicted', async () => {
  const m = new TokenMinter({ maxEntries: 2 });
  await m.token(sa('1@x.iam'), http, T0);
  await m.token(sa('2@x.iam'), http, T0);
  await m.token(sa('3@x.iam'), http, T0);
  assert.equal(m.mints, 3);
  await m.token(sa('3@x.iam'), http, T0);
  await m.token(sa('2@x.iam'), http, T0);
  assert.equal(m.mints, 3);
  await m.token(sa('1@x.iam'), http, T0);
  assert.equal(m.mints, 4);
});
