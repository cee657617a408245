import assert from 'node:assert/strict';
import { test } from 'node:test';
import { amzDate, signRequest, uriEncode } from './sigv4.js';

// The AWS SigV4 test suite's shared inputs (aws-sig-v4-test-suite, published with the algorithm).
const SUITE = {
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  region: 'us-east-1',
  service: 'service',
  now: Date.UTC(2015, 7, 30, 12, 36, 0),
};

test('sigv4: get-vanilla test vector (canonical request, string to sign, signature)', () => {
  const s = signRequest({
    ...SUITE,
    method: 'GET',
    url: new URL('https://example.amazonaws.com/'),
    headers: {},
    body: '',
    contentSha256Header: false,
  });
  assert.equal(
    s.canonicalRequest,
    'GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  );
  assert.equal(
    s.stringToSign,
    'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63',
  );
  assert.equal(
    s.headers.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
  );
  assert.equal(s.headers['x-amz-date'], '20150830T123600Z');
});

test('sigv4: post-vanilla test vector', () => {
  const s = signRequest({
    ...SUITE,
    method: 'POST',
    url: new URL('https://example.amazonaws.com/'),
    headers: {},
    body: '',
    contentSha256Header: false,
  });
  assert.match(
    s.headers.authorization ?? '',
    /Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b$/,
  );
});

test('sigv4: a changed secret, body, date or path changes the signature', () => {
  const base = {
    ...SUITE,
    method: 'POST',
    url: new URL('https://bedrock-runtime.us-east-1.amazonaws.com/model/x/converse'),
    headers: { 'content-type': 'application/json' },
    body: '{"a":1}',
    signedHeaders: ['content-type'],
  };
  const sig = (o: Partial<typeof base>) => signRequest({ ...base, ...o }).headers.authorization;
  const a = sig({});
  assert.notEqual(a, sig({ body: '{"a":2}' }));
  assert.notEqual(a, sig({ now: SUITE.now + 1000 }));
  assert.notEqual(
    a,
    sig({ url: new URL('https://bedrock-runtime.us-east-1.amazonaws.com/model/y/converse') }),
  );
  assert.notEqual(a, sig({ credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'other' } }));
  assert.match(a ?? '', /SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date,/);
});

test('sigv4: session token is sent and signed; payload hash header matches the body', () => {
  const s = signRequest({
    ...SUITE,
    credentials: { ...SUITE.credentials, sessionToken: 'tok/with+chars=' },
    method: 'POST',
    url: new URL('https://h.example/'),
    headers: {},
    body: 'hello',
  });
  assert.equal(s.headers['x-amz-security-token'], 'tok/with+chars=');
  assert.equal(
    s.headers['x-amz-content-sha256'],
    '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
  );
  assert.match(
    s.headers.authorization ?? '',
    /SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,/,
  );
  assert.ok(!s.canonicalRequest.includes(SUITE.credentials.secretAccessKey));
});

test('sigv4: model ids are double-encoded in the canonical URI (non-S3 rule)', () => {
  const s = signRequest({
    ...SUITE,
    method: 'POST',
    url: new URL('https://h.example/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke'),
    headers: {},
    body: '',
  });
  assert.equal(s.canonicalRequest.split('\n')[1], '/model/anthropic.claude-3-haiku-20240307-v1%253A0/invoke');
  assert.equal(uriEncode("a b*'()!~"), 'a%20b%2A%27%28%29%21~');
  assert.equal(amzDate(Date.UTC(2024, 0, 2, 3, 4, 5)), '20240102T030405Z');
});
