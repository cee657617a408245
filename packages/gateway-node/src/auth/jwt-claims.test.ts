import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkRegisteredClaims,
  checkRequirements,
  claimAt,
  identityOf,
  jwtHeader,
  tokenScopes,
} from './jwt-claims.js';

const seg = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const RULES = { issuer: 'https://idp.example', audiences: ['aisix', 'other'], leewaySecs: 0 };
const NOW = 1_700_000_000;
const base = { iss: 'https://idp.example', aud: 'aisix', exp: NOW + 60 };

test('JWT shape (§4.1): three non-empty segments, base64url JSON header with alg, ≤ 16 KiB', () => {
  const h = seg({ alg: 'RS256', kid: 'k1' });
  assert.deepEqual(jwtHeader(`${h}.${seg(base)}.sig`), { alg: 'RS256', kid: 'k1' });
  assert.equal(jwtHeader('my.imported.key'), undefined, 'a dotted api key is not JWT-shaped');
  assert.equal(jwtHeader(`${seg({ typ: 'JWT' })}.${seg(base)}.sig`), undefined, 'no alg');
  assert.equal(jwtHeader(`${h}..sig`), undefined, 'empty segment');
  assert.equal(jwtHeader(`${h}.${seg(base)}.`), undefined, 'empty signature');
  assert.equal(jwtHeader(`${h}.${seg(base)}.a.b`), undefined, 'four segments');
  assert.equal(jwtHeader(`${h}=.${seg(base)}.sig`), undefined, 'padding is not base64url');
  assert.equal(jwtHeader(`${seg([1])}.${seg(base)}.sig`), undefined, 'header must be an object');
  assert.equal(jwtHeader(`${h}.${'a'.repeat(16 * 1024)}.sig`), undefined, 'over 16 KiB');
  assert.equal(jwtHeader('sk-plain-key'), undefined);
});

test('registered claims: exp/iss/aud required, exact issuer, audience any-of', () => {
  assert.equal(checkRegisteredClaims(base, RULES, NOW), undefined);
  assert.equal(checkRegisteredClaims({ ...base, aud: ['x', 'other'] }, RULES, NOW), undefined);
  for (const k of ['exp', 'iss', 'aud'] as const) {
    const p: Record<string, unknown> = { ...base };
    delete p[k];
    assert.equal(checkRegisteredClaims(p, RULES, NOW), 'jwt_missing_claim', k);
  }
  assert.equal(
    checkRegisteredClaims({ ...base, iss: 'https://idp.example/' }, RULES, NOW),
    'jwt_issuer_mismatch',
  );
  assert.equal(checkRegisteredClaims({ ...base, aud: 'nope' }, RULES, NOW), 'jwt_audience_mismatch');
  assert.equal(checkRegisteredClaims({ ...base, aud: [7] }, RULES, NOW), 'jwt_audience_mismatch');
  assert.equal(checkRegisteredClaims({ ...base, exp: '1' }, RULES, NOW), 'jwt_invalid');
});

test('exp and nbf with leeway; iat is not checked', () => {
  assert.equal(checkRegisteredClaims({ ...base, exp: NOW }, RULES, NOW), undefined, 'valid at exp');
  assert.equal(checkRegisteredClaims({ ...base, exp: NOW - 1 }, RULES, NOW), 'jwt_expired');
  const lee = { ...RULES, leewaySecs: 30 };
  assert.equal(checkRegisteredClaims({ ...base, exp: NOW - 30 }, lee, NOW), undefined);
  assert.equal(checkRegisteredClaims({ ...base, exp: NOW - 31 }, lee, NOW), 'jwt_expired');
  assert.equal(checkRegisteredClaims({ ...base, nbf: NOW + 1 }, RULES, NOW), 'jwt_not_yet_valid');
  assert.equal(checkRegisteredClaims({ ...base, nbf: NOW }, RULES, NOW), undefined);
  assert.equal(checkRegisteredClaims({ ...base, nbf: NOW + 30 }, lee, NOW), undefined);
  assert.equal(checkRegisteredClaims({ ...base, nbf: NOW + 31 }, lee, NOW), 'jwt_not_yet_valid');
  assert.equal(checkRegisteredClaims({ ...base, iat: NOW + 9999 }, RULES, NOW), undefined);
});

test('scopes: space-delimited string or string array; other shapes are no scopes', () => {
  assert.deepEqual([...tokenScopes({ scope: 'a  b' })], ['a', 'b']);
  assert.deepEqual([...tokenScopes({ scope: ['a', 'b'] })], ['a', 'b']);
  assert.equal(tokenScopes({ scope: ['a', 1] }).size, 0);
  assert.equal(tokenScopes({ scope: 5 }).size, 0);
  const req = { requiredScopes: ['ai.access', 'x'] };
  assert.equal(checkRequirements({ scope: 'x ai.access' }, req), undefined);
  assert.equal(checkRequirements({ scope: 'ai.access' }, req), 'jwt_scope_missing');
  assert.equal(checkRequirements({}, req), 'jwt_scope_missing');
});

test('bound claims: string equal or array containing one of the expected; nested paths', () => {
  const req = { boundClaims: { department: 'ai-lab', 'realm_access.roles': ['admin', 'dev'] } };
  const ok = { department: 'ai-lab', realm_access: { roles: ['viewer', 'dev'] } };
  assert.equal(checkRequirements(ok, req), undefined);
  assert.equal(checkRequirements({ ...ok, department: 'sales' }, req), 'jwt_bound_claim_mismatch');
  assert.equal(checkRequirements({ realm_access: ok.realm_access }, req), 'jwt_bound_claim_mismatch');
  assert.equal(
    checkRequirements({ ...ok, realm_access: { roles: [['dev']] } }, req),
    'jwt_bound_claim_mismatch',
    'non-string elements never match',
  );
  assert.equal(checkRequirements({ ...ok, department: ['ai-lab'] }, req), undefined);
  assert.equal(checkRequirements({ ...ok, department: 1 }, req), 'jwt_bound_claim_mismatch');
  // Scopes are checked before bound claims.
  assert.equal(checkRequirements({}, { requiredScopes: ['s'], ...req }), 'jwt_scope_missing');
});

test('identity claim: dotted path, must be a string', () => {
  assert.equal(identityOf({ sub: 'alice' }, 'sub'), 'alice');
  assert.equal(identityOf({ sub: 42 }, 'sub'), undefined);
  assert.equal(identityOf({ user: { email: 'a@x' } }, 'user.email'), 'a@x');
  assert.equal(identityOf({ user: ['a'] }, 'user.0'), undefined, 'arrays are not traversed');
  assert.equal(claimAt({ a: { b: null } }, 'a.b.c'), undefined);
  assert.equal(claimAt({}, 'toString'), undefined, 'prototype members are not claims');
});
